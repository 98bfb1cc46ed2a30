"""The Mistral -> StackStorm status table."""
import pytest

from mistral_v2 import statuses


@pytest.mark.parametrize(
    "wf_state, task_states, expected",
    [
        ("RUNNING", ["RUNNING"], "running"),
        ("RUNNING", [], "running"),
        ("IDLE", [], "running"),
        ("SUCCESS", ["SUCCESS", "SUCCESS"], "succeeded"),
        ("ERROR", ["SUCCESS", "ERROR"], "failed"),
        ("PAUSED", ["RUNNING", "SUCCESS"], "pausing"),
        ("PAUSED", ["DELAYED"], "pausing"),
        # A pause-before task (IDLE) or a join that waits (WAITING) does nothing until resumed.
        ("PAUSED", ["SUCCESS", "IDLE"], "paused"),
        ("PAUSED", ["WAITING"], "paused"),
        ("CANCELLED", ["WAITING", "SUCCESS"], "canceled"),
        ("PAUSED", ["SUCCESS", "PAUSED"], "paused"),
        ("PAUSED", [], "paused"),
        ("CANCELLED", ["RUNNING"], "canceling"),
        ("CANCELLED", ["DELAYED"], "canceling"),
        ("CANCELLED", ["SUCCESS", "CANCELLED"], "canceled"),
    ],
)
def test_workflow_state_maps_to_st2_status(wf_state, task_states, expected):
    assert statuses.to_st2_status(wf_state, task_states) == expected


def test_unknown_workflow_state_is_rejected_by_name():
    with pytest.raises(ValueError, match="BOGUS"):
        statuses.to_st2_status("BOGUS", [])


@pytest.mark.parametrize(
    "st2_status, mistral_state",
    [("succeeded", "SUCCESS"), ("failed", "ERROR"), ("timeout", "ERROR"),
     ("abandoned", "ERROR"), ("canceled", "CANCELLED")],
)
def test_child_status_maps_to_action_execution_state(st2_status, mistral_state):
    assert statuses.ST2_TO_MISTRAL_ACTION_STATE[st2_status] == mistral_state


def test_only_completed_statuses_are_reported_to_mistral():
    assert "running" not in statuses.ST2_TO_MISTRAL_ACTION_STATE
    assert "pausing" not in statuses.ST2_TO_MISTRAL_ACTION_STATE
    assert statuses.is_completed("succeeded") and not statuses.is_completed("paused")
