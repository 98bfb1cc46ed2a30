"""Patch a class of a Mistral module now, or the moment that module finishes importing."""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from typing import Any, Callable, Optional


class DeferredClassPatch:
    """Applies `patch_class(cls)` to `module_name.class_name` once, whenever that class exists.

    The plugin is imported while Mistral loads its entry points, which may happen before or
    in the middle of importing the module to patch; a meta-path hook covers both cases.
    """

    def __init__(self, module_name: str, class_name: str, patch_class: Callable[[type], bool]) -> None:
        self.module_name = module_name
        self.class_name = class_name
        self.patch_class = patch_class
        self.finder: Optional[importlib.abc.MetaPathFinder] = None

    def _patch_module(self, module: Any) -> bool:
        return self.patch_class(getattr(module, self.class_name))

    def install(self) -> str:
        """Patch now if the class is loaded, else as soon as it is: "patched", "already" or "deferred"."""
        module = sys.modules.get(self.module_name)
        if module is not None and hasattr(module, self.class_name):
            return "patched" if self._patch_module(module) else "already"
        if self.finder is None:
            self.finder = _Finder(self)
            sys.meta_path.insert(0, self.finder)
        return "deferred"

    def uninstall(self) -> None:
        """Remove the import hook (the patch itself stays)."""
        if self.finder is not None and self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)
        self.finder = None


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then patches the freshly executed module."""

    def __init__(self, wrapped: importlib.abc.Loader, patch: DeferredClassPatch) -> None:
        self._wrapped = wrapped
        self._patch = patch

    def create_module(self, spec: Any) -> Any:
        return self._wrapped.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._wrapped.exec_module(module)
        self._patch._patch_module(module)


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the target module, or patches a half-imported one at the next import."""

    def __init__(self, patch: DeferredClassPatch) -> None:
        self._patch = patch

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        patch = self._patch
        module = sys.modules.get(patch.module_name)
        if module is not None:
            if hasattr(module, patch.class_name):
                patch.uninstall()
                patch._patch_module(module)
            return None
        if fullname != patch.module_name:
            return None
        patch.uninstall()
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader, patch)
        return spec
