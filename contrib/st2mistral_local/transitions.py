"""StackStorm execution statuses and which status changes the host accepts."""
from __future__ import annotations

from typing import Dict, FrozenSet

from mistral_v2 import seam
from mistral_v2.cascade import CANCELED, CANCELING, PAUSED, PAUSING, RESUMING, RUNNING
from mistral_v2.exceptions import InvalidOperationError

REQUESTED = seam.LIVEACTION_STATUS_REQUESTED
SCHEDULED = seam.LIVEACTION_STATUS_SCHEDULED
SUCCEEDED = seam.LIVEACTION_STATUS_SUCCEEDED
FAILED = seam.LIVEACTION_STATUS_FAILED
TIMEOUT = seam.LIVEACTION_STATUS_TIMED_OUT
ABANDONED = seam.LIVEACTION_STATUS_ABANDONED

COMPLETED: FrozenSet[str] = frozenset(seam.LIVEACTION_COMPLETED_STATES)
ALL_STATUSES: FrozenSet[str] = frozenset(
    {REQUESTED, SCHEDULED, RUNNING, PAUSING, PAUSED, RESUMING, CANCELING} | COMPLETED
)

# status -> statuses it may move to (a status may always be "re-set" to itself).
ALLOWED: Dict[str, FrozenSet[str]] = {
    REQUESTED: frozenset({SCHEDULED, RUNNING, CANCELING, CANCELED, FAILED, ABANDONED}),
    SCHEDULED: frozenset({RUNNING, CANCELING, CANCELED, FAILED, ABANDONED}),
    RUNNING: frozenset({PAUSING, PAUSED, CANCELING}) | COMPLETED,
    PAUSING: frozenset({PAUSED, RUNNING, RESUMING, CANCELING}) | COMPLETED,
    PAUSED: frozenset({RESUMING, RUNNING, PAUSING, CANCELING}) | COMPLETED,
    RESUMING: frozenset({RUNNING, PAUSING, PAUSED, CANCELING}) | COMPLETED,
    CANCELING: COMPLETED,
}
for _done in COMPLETED:
    ALLOWED[_done] = frozenset()


def is_completed(status: str) -> bool:
    """True for statuses after which nothing changes."""
    return status in COMPLETED


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
