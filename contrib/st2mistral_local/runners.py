"""Runner types known to the host and how runner objects are created (entry point or built-in)."""
from __future__ import annotations

import copy
import functools
import importlib
import logging
from importlib import metadata as importlib_metadata
from typing import Any, Dict, List

from mistral_v2 import seam
from mistral_v2.exceptions import ConfigurationError
from st2mistral_local import builtin_runners

LOG = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "st2common.runners.runner"
MISTRAL_RUNNER = "mistral-v2"

# Runner types implemented inside the host (st2's local-shell-cmd and noop, reduced).
BUILTIN_RUNNER_TYPES: Dict[str, Dict[str, Any]] = {
    "local-shell-cmd": {
        "name": "local-shell-cmd",
        "description": "A runner to execute local shell commands.",
        "enabled": True,
        "runner_package": "st2mistral_local",
        "runner_module": "builtin_runners",
        "runner_parameters": {
            "cmd": {"type": "string", "description": "Shell command to run."},
            "cwd": {"type": "string", "description": "Working directory."},
            "env": {"type": "object", "description": "Extra environment variables."},
            "timeout": {"type": "integer", "default": 60, "description": "Seconds before the command is killed."},
        },
    },
    "noop": {
        "name": "noop",
        "description": "A runner which does nothing.",
        "enabled": True,
        "runner_package": "st2mistral_local",
        "runner_module": "builtin_runners",
        "runner_parameters": {},
    },
}

# Runners whose run() returns before the work is done (tracked by the reconciler).
ASYNC_RUNNERS = frozenset({MISTRAL_RUNNER})


@functools.lru_cache(maxsize=1)
def _mistral_metadata() -> Dict[str, Any]:
    entries: List[Dict[str, Any]] = seam.get_runner_metadata("mistral_v2")
    for entry in entries:
        if entry.get("name") == MISTRAL_RUNNER:
            return entry
    raise ConfigurationError("mistral_v2/runner.yaml does not describe a runner named %s" % MISTRAL_RUNNER)


@functools.lru_cache(maxsize=1)
def _all_runner_types() -> Dict[str, Dict[str, Any]]:
    types = copy.deepcopy(BUILTIN_RUNNER_TYPES)
    types[MISTRAL_RUNNER] = copy.deepcopy(_mistral_metadata())
    return types


def runner_types() -> Dict[str, Dict[str, Any]]:
    """name -> runner type metadata (runner.yaml shape) for every runner the host offers.

    The entries are shared: treat them as read-only (copy before changing)."""
    return dict(_all_runner_types())


def _load_module(name: str, meta: Dict[str, Any]) -> Any:
    """The runner module: through the entry point as st2 does, else by runner.yaml's names."""
    for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    module = "%s.%s" % (meta["runner_package"], meta["runner_module"])
    LOG.debug("no %s entry point for %s (package not installed?); importing %s", ENTRY_POINT_GROUP, name, module)
    return importlib.import_module(module)


def get_runner(name: str) -> Any:
    """A fresh runner object for runner type `name`."""
    if name in BUILTIN_RUNNER_TYPES:
        return builtin_runners.get_runner(name)
    types = runner_types()
    if name not in types:
        raise ConfigurationError('Unknown runner type "%s" (known: %s)' % (name, ", ".join(sorted(types))))
    try:
        module = _load_module(name, types[name])
    except ImportError as exc:
        raise ConfigurationError("Runner %s cannot be loaded: %s" % (name, exc)) from exc
    return module.get_runner()
