"""Imports st2mistral_plugin.action for unit tests, stubbing mistral_lib when it is not installed."""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any


class StubResult:
    """Same constructor as mistral_lib.actions.Result."""

    def __init__(self, data: Any = None, error: Any = None, cancel: bool = False) -> None:
        self.data, self.error, self.cancel = data, error, cancel


def import_action(monkeypatch: Any) -> types.ModuleType:
    """st2mistral_plugin.action, importing mistral_lib for real when installed, else a stub
    (installed with `monkeypatch`, so it is gone after the test)."""
    try:
        import mistral_lib.actions  # noqa: F401
    except ImportError:
        stub = types.ModuleType("mistral_lib.actions")
        stub.Action = type("Action", (), {"__init__": lambda self: None})  # type: ignore[attr-defined]
        stub.Result = StubResult  # type: ignore[attr-defined]
        pkg = types.ModuleType("mistral_lib")
        pkg.actions = stub  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "mistral_lib", pkg)
        monkeypatch.setitem(sys.modules, "mistral_lib.actions", stub)
        monkeypatch.delitem(sys.modules, "st2mistral_plugin.action", raising=False)
    return importlib.import_module("st2mistral_plugin.action")


def forget_action() -> None:
    """Drop st2mistral_plugin.action so the next import_action imports it afresh."""
    sys.modules.pop("st2mistral_plugin.action", None)
