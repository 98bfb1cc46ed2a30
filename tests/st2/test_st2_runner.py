"""Runner defects only real StackStorm 3.9 shows (its container, its models, its API)."""
from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.st2, pytest.mark.integration]


def test_an_action_with_notify_settings_runs(st2_stack):
    """StackStorm hands the runner liveaction.notify as a mongoengine document, not JSON."""
    ex = st2_stack.run_cli("run", "st2_only.notified")
    assert ex["status"] == "succeeded", ex
    doc = st2_stack.get(ex["id"])
    assert "notified" in str(doc["result"])


def _running_without_mistral_execution(st2_stack, mistral_client) -> str:
    ex_id = st2_stack.run_async("scenarios.slow", "seconds=30")
    deadline = time.monotonic() + 60
    while "mistral" not in st2_stack.get(ex_id)["context"]:  # "running" is stored before run() returns
        assert time.monotonic() < deadline, st2_stack.get(ex_id)
        time.sleep(0.2)
    mistral_id = st2_stack.get(ex_id)["context"]["mistral"]["execution_id"]
    mistral_client.executions.delete(mistral_id, force=True)
    return ex_id


@pytest.mark.parametrize("verb", ["cancel", "pause"])
def test_a_failing_operation_leaves_the_execution_running_with_the_error(st2_stack, mistral_client, verb):
    """StackStorm leaves an execution whose cancel() raises in `canceling` for ever and fails one
    whose pause() raises: the runner returns the status Mistral allows instead, with the error."""
    # st2mistral-sync would (rightly) fail an execution whose Mistral execution is gone before the
    # operation arrives on a loaded machine: it is stopped while the runner's own answer is checked.
    st2_stack.sync.stop()
    try:
        ex_id = _running_without_mistral_execution(st2_stack, mistral_client)
        st2_stack.st2("execution", verb, ex_id)
        doc = st2_stack.wait_for_status(ex_id, ["running", "failed", "canceled", "paused"], timeout=60)
        assert doc["status"] == "running", doc
        assert "error" in (doc["result"] or {}), doc["result"]
    finally:
        st2_stack.sync.start()
