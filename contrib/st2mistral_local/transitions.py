"""StackStorm execution statuses and which status changes the host accepts."""
from __future__ import annotations

from typing import Dict, FrozenSet

from mistral_v2.exceptions import InvalidOperationError
from mistral_v2.statuses import St2, is_completed

ALL_STATUSES: FrozenSet[str] = frozenset(
    {St2.REQUESTED, St2.SCHEDULED, St2.RUNNING, St2.PAUSING, St2.PAUSED, St2.RESUMING, St2.CANCELING} | St2.COMPLETED
)

# status -> statuses it may move to (a status may always be "re-set" to itself).
ALLOWED: Dict[str, FrozenSet[str]] = {
    St2.REQUESTED: frozenset({St2.SCHEDULED, St2.RUNNING, St2.CANCELING, St2.CANCELED, St2.FAILED, St2.ABANDONED}),
    St2.SCHEDULED: frozenset({St2.RUNNING, St2.CANCELING, St2.CANCELED, St2.FAILED, St2.ABANDONED}),
    St2.RUNNING: frozenset({St2.PAUSING, St2.PAUSED, St2.CANCELING}) | St2.COMPLETED,
    St2.PAUSING: frozenset({St2.PAUSED, St2.RUNNING, St2.RESUMING, St2.CANCELING}) | St2.COMPLETED,
    St2.PAUSED: frozenset({St2.RESUMING, St2.RUNNING, St2.PAUSING, St2.CANCELING}) | St2.COMPLETED,
    St2.RESUMING: frozenset({St2.RUNNING, St2.PAUSING, St2.PAUSED, St2.CANCELING}) | St2.COMPLETED,
    St2.CANCELING: St2.COMPLETED,
}
for _done in St2.COMPLETED:
    ALLOWED[_done] = frozenset()


def can_transition(current: str, new: str) -> bool:
    """True when an execution in `current` may move to `new`."""
    if new not in ALL_STATUSES:
        return False
    if current == new:
        return not is_completed(current)
    return new in ALLOWED.get(current, frozenset())


def check_transition(current: str, new: str) -> None:
    """Raise InvalidOperationError naming both statuses when the change is not allowed."""
    if new not in ALL_STATUSES:
        raise InvalidOperationError(
            'Unknown execution status "%s"; expected one of: %s' % (new, ", ".join(sorted(ALL_STATUSES)))
        )
    if not can_transition(current, new):
        raise InvalidOperationError(
            'Execution status cannot change from "%s" to "%s".' % (current, new)
        )
