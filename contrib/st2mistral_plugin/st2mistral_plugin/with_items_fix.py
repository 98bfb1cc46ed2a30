"""Runtime fix for Mistral 23's with-items re-run with reset=False (re-runs extra items, never completes).

Bug: mistral/engine/tasks.py WithItemsTask._get_next_indexes() re-runs every index after the
last failed one, and is_with_items_completed()/_has_more_iterations() count accepted action
executions instead of distinct item indexes. See docs/upstream-with-items-no-reset-bug.md.
Installed when Mistral imports this plugin; switch off with [st2] with_items_fix = False or
ST2MISTRAL_WITH_ITEMS_FIX=0 (checked on every call).
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Set

from mistral_v2 import statuses
from st2mistral_plugin import config
from st2mistral_plugin.deferred_patch import DeferredClassPatch

LOG = logging.getLogger(__name__)

TARGET_MODULE = "mistral.engine.tasks"
_PATCHED_ATTR = "_st2mistral_with_items_fix"


def _index(action_ex: Any) -> Optional[int]:
    return (action_ex.runtime_context or {}).get("index")


def _indexes(action_exs: List[Any], keep: Callable[[Any], bool]) -> Set[int]:
    return {i for i in (_index(ex) for ex in action_exs if keep(ex)) if i is not None}


def _covered(ex: Any) -> bool:
    """An item whose action was accepted, or is still in flight, must not be scheduled again."""
    return bool(ex.accepted) or ex.state not in statuses.MISTRAL_TERMINAL_STATES


def next_indexes(count: int, capacity: Optional[int], action_exs: List[Any]) -> List[int]:
    """Item indexes to schedule next: only those with no accepted or in-flight action."""
    covered = _indexes(action_exs, _covered)
    todo = [i for i in range(count) if i not in covered]
    return todo[:capacity] if capacity is not None else todo


def all_items_accepted(count: int, action_exs: List[Any]) -> bool:
    """True when every item index (at least one) has an accepted action execution."""
    return len(_indexes(action_exs, lambda ex: ex.accepted)) == (count or 1)


def more_items_to_schedule(count: int, action_exs: List[Any]) -> bool:
    """True while some item index has neither an accepted nor a running action execution."""
    running_or_accepted = _indexes(action_exs, lambda ex: ex.accepted or ex.state == statuses.RUNNING)
    return count > len(running_or_accepted)


def _patched_methods(cls: Any) -> Dict[str, Callable[..., Any]]:
    orig_next = cls._get_next_indexes
    orig_completed = cls.is_with_items_completed
    orig_more = cls._has_more_iterations

    def _get_next_indexes(self: Any) -> List[int]:
        if not config.with_items_fix_enabled():
            return orig_next(self)
        return next_indexes(self._get_with_items_count(), self._get_with_items_capacity(),
                            list(self.task_ex.executions))

    def is_with_items_completed(self: Any) -> bool:
        if not config.with_items_fix_enabled():
            return orig_completed(self)
        execs = list(self.task_ex.executions)
        if any(ex.accepted and ex.state == statuses.CANCELLED for ex in execs):
            return True
        full_capacity = (not self._get_concurrency()
                         or self._get_with_items_capacity() == self._get_concurrency())
        return all_items_accepted(self._get_with_items_count(), execs) and full_capacity

    def _has_more_iterations(self: Any) -> bool:
        if not config.with_items_fix_enabled():
            return orig_more(self)
        return more_items_to_schedule(self._get_with_items_count(),
                                      list(self.task_ex.executions))

    return {
        "_get_next_indexes": _get_next_indexes,
        "is_with_items_completed": is_with_items_completed,
        "_has_more_iterations": _has_more_iterations,
    }


def patch_class(cls: Any) -> bool:
    """Replace the three methods on WithItemsTask `cls`; False if it was already patched."""
    if getattr(cls, _PATCHED_ATTR, False):
        return False
    for name, func in _patched_methods(cls).items():
        setattr(cls, name, func)
    setattr(cls, _PATCHED_ATTR, True)
    LOG.info("st2mistral: with-items reset=False fix installed on %s.%s",
             cls.__module__, cls.__name__)
    return True


_PATCH = DeferredClassPatch(TARGET_MODULE, "WithItemsTask", patch_class)


def _uninstall_finder() -> None:
    _PATCH.uninstall()


def install() -> str:
    """Patch WithItemsTask now if its module is loaded, else as soon as it is.

    Returns "patched", "already" or "deferred".
    """
    return _PATCH.install()
