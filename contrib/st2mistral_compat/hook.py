"""Import hook loaded by the compat .pth file: patches StackStorm modules as they finish importing.

Only the standard library is imported here: the .pth line runs at interpreter start-up, before
StackStorm's services monkey-patch with eventlet, so nothing of StackStorm or eventlet is touched
until StackStorm itself imports the module a patch is for.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from typing import Any, Callable, Dict, Optional

Patch = Callable[[Any], bool]

# module name -> "module:function" of the patch, resolved only when the module is imported.
PATCHES: Dict[str, str] = {
    "st2common.constants.action": "st2mistral_compat.patches:add_workflow_runner",
    "st2api.controllers.v1.actionexecutions": "st2mistral_compat.patches:allow_task_rerun",
    "st2common.util.spec_loader": "st2mistral_compat.patches:add_extension_routes",
    # the `st2` CLI (st2client lives in StackStorm's venv): names Mistral tasks, no crash
    "st2client.commands.action": "st2mistral_compat.client:name_mistral_tasks",
}


def _resolve(target: str) -> Patch:
    module_name, func = target.split(":")
    return getattr(importlib.import_module(module_name), func)


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then the patch on the freshly executed module."""

    def __init__(self, wrapped: importlib.abc.Loader, target: str) -> None:
        self._wrapped = wrapped
        self._target = target

    def create_module(self, spec: Any) -> Any:
        return self._wrapped.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._wrapped.exec_module(module)
        _resolve(self._target)(module)


class CompatFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of each module named in PATCHES (once per module)."""

    def __init__(self, patches: Dict[str, str]) -> None:
        self._pending = dict(patches)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Optional[Any]:
        patch_target = self._pending.pop(fullname, None)
        if patch_target is None:
            return None
        spec = importlib.util.find_spec(fullname)  # our entry is gone: no recursion
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _PatchingLoader(spec.loader, patch_target)
        return spec


def install(patches: Optional[Dict[str, str]] = None) -> None:
    """Patch the modules already imported now and the others when they are imported; idempotent."""
    if any(isinstance(f, CompatFinder) for f in sys.meta_path):
        return
    todo = dict(PATCHES if patches is None else patches)
    for name in [n for n in todo if n in sys.modules]:
        _resolve(todo.pop(name))(sys.modules[name])
    sys.meta_path.insert(0, CompatFinder(todo))
