"""Mapping of Mistral workflow/task states to StackStorm execution statuses (a plain table).

Pure functions with no dependencies: the Mistral-side plugin imports this module too, so push
and poll compute the same status.
"""
from __future__ import annotations

from typing import Iterable

from mistral_v2 import seam

# Mistral states (mistral.workflow.states).
IDLE = "IDLE"
WAITING = "WAITING"
RUNNING = "RUNNING"
RUNNING_DELAYED = "DELAYED"
PAUSED = "PAUSED"
SUCCESS = "SUCCESS"
CANCELLED = "CANCELLED"
ERROR = "ERROR"
SKIPPED = "SKIPPED"


class St2:
    """StackStorm execution statuses, named once for every module (st2common's values inside
    StackStorm, through seam)."""

    REQUESTED = seam.LIVEACTION_STATUS_REQUESTED
    SCHEDULED = seam.LIVEACTION_STATUS_SCHEDULED
    PENDING = seam.LIVEACTION_STATUS_PENDING  # an Inquiry (core.ask) waiting for its response
    RUNNING = seam.LIVEACTION_STATUS_RUNNING
    PAUSING = seam.LIVEACTION_STATUS_PAUSING
    PAUSED = seam.LIVEACTION_STATUS_PAUSED
    RESUMING = seam.LIVEACTION_STATUS_RESUMING
    CANCELING = seam.LIVEACTION_STATUS_CANCELING
    CANCELED = seam.LIVEACTION_STATUS_CANCELED
    SUCCEEDED = seam.LIVEACTION_STATUS_SUCCEEDED
    FAILED = seam.LIVEACTION_STATUS_FAILED
    TIMED_OUT = seam.LIVEACTION_STATUS_TIMED_OUT
    ABANDONED = seam.LIVEACTION_STATUS_ABANDONED
    COMPLETED = frozenset(seam.LIVEACTION_COMPLETED_STATES)


MISTRAL_TERMINAL_STATES = frozenset({SUCCESS, ERROR, CANCELLED, SKIPPED})

# Task states during which work may still complete on its own. Not IDLE (a `pause-before` task,
# or a task created while the workflow is paused: it starts only on resume) nor WAITING (a join
# waiting for branches that may never come): counting those kept a paused workflow `pausing`
# for ever. StackStorm's runner (3.2) counted RUNNING only; a DELAYED task (wait-before/after,
# retry delay) still leaves that state by itself, so it is active too.
ACTIVE_TASK_STATES = frozenset({RUNNING, RUNNING_DELAYED})

# Mistral workflow state -> (status while any task is active, status when none is).
WORKFLOW_STATUS_MAP = {
    IDLE: (seam.LIVEACTION_STATUS_RUNNING, seam.LIVEACTION_STATUS_RUNNING),
    WAITING: (seam.LIVEACTION_STATUS_RUNNING, seam.LIVEACTION_STATUS_RUNNING),
    RUNNING: (seam.LIVEACTION_STATUS_RUNNING, seam.LIVEACTION_STATUS_RUNNING),
    RUNNING_DELAYED: (seam.LIVEACTION_STATUS_RUNNING, seam.LIVEACTION_STATUS_RUNNING),
    PAUSED: (seam.LIVEACTION_STATUS_PAUSING, seam.LIVEACTION_STATUS_PAUSED),
    CANCELLED: (seam.LIVEACTION_STATUS_CANCELING, seam.LIVEACTION_STATUS_CANCELED),
    SUCCESS: (seam.LIVEACTION_STATUS_SUCCEEDED, seam.LIVEACTION_STATUS_SUCCEEDED),
    ERROR: (seam.LIVEACTION_STATUS_FAILED, seam.LIVEACTION_STATUS_FAILED),
}

# StackStorm status of a child execution -> Mistral action execution state it reports.
ST2_TO_MISTRAL_ACTION_STATE = {
    seam.LIVEACTION_STATUS_SUCCEEDED: SUCCESS,
    seam.LIVEACTION_STATUS_FAILED: ERROR,
    seam.LIVEACTION_STATUS_TIMED_OUT: ERROR,
    seam.LIVEACTION_STATUS_ABANDONED: ERROR,
    seam.LIVEACTION_STATUS_CANCELED: CANCELLED,
}


def is_task_active(state: str) -> bool:
    """True when a task in `state` may still finish work."""
    return state in ACTIVE_TASK_STATES


def to_st2_status(workflow_state: str, task_states: Iterable[str]) -> str:
    """StackStorm status for a Mistral workflow in `workflow_state` with tasks in `task_states`."""
    try:
        while_active, when_idle = WORKFLOW_STATUS_MAP[workflow_state]
    except KeyError:
        raise ValueError("Unknown Mistral workflow state %r" % workflow_state) from None
    return while_active if any(is_task_active(s) for s in task_states) else when_idle


def is_completed(st2_status: str) -> bool:
    """True for StackStorm statuses after which nothing changes."""
    return st2_status in St2.COMPLETED
