"""Cancel on a real Mistral 23, through MistralRunner and the cascade (issue 7).

StackStorm's promise: running tasks are not canceled and run to completion; no new task is
scheduled; the execution goes canceling -> canceled.
"""
from __future__ import annotations

import pytest
from test_pause_resume_harness import host, mistral  # noqa: F401 - fixtures

from mistral_v2.exceptions import InvalidOperationError

pytestmark = pytest.mark.integration


def test_cancel_lets_the_slow_task_finish_and_starts_nothing_after(host):
    root = host.start("slow", {"seconds": 2})
    mid = host.mistral_id(root)
    host.wait_task(mid, "nap", "RUNNING")
    assert host.cancel(root) in ("canceling", "canceled")
    assert host.api.get_execution(mid)["state"] == "CANCELLED"
    assert host.wait_status(root, ["canceled", "succeeded", "failed"]) == "canceled"
    host.wait_task(mid, "nap", "SUCCESS")  # the running sleep completed...
    assert host.tasks(mid) == {"nap": "SUCCESS"}  # ...and its successor never started
    assert host.api.get_execution(mid)["state"] == "CANCELLED"


def test_cancel_reports_canceling_while_a_task_is_active(host):
    root = host.start("parent_stub")
    mid = host.mistral_id(root)
    host.wait_task(mid, "run_child", "RUNNING")
    assert host.cancel(root) == "canceling"
    host.refresh()
    assert host.docs[root]["status"] == "canceling"
    host.finish_async_task(mid, "run_child")
    assert host.wait_status(root, ["canceled", "succeeded"]) == "canceled"
    assert host.tasks(mid) == {"run_child": "SUCCESS"}


def test_cancel_of_workbook_depth3_cancels_every_subworkflow(host):
    root = host.start("nested", {"seconds": 2})
    host.wait_subworkflow_task(root, "deep_nap", "RUNNING")
    host.cancel(root)
    assert set(host.tree(root).values()) == {"CANCELLED"}
    assert host.wait_status(root, ["canceled", "succeeded", "failed"]) == "canceled"
    host.wait_subworkflow_task(root, "deep_nap", "SUCCESS")
    assert host.all_tasks(root) == {"call_sub1": "CANCELLED", "call_sub2": "CANCELLED", "deep_nap": "SUCCESS"}


def test_cancel_of_paused_execution_ends_canceled(host):
    root = host.start("slow", {"seconds": 2})
    mid = host.mistral_id(root)
    host.wait_task(mid, "nap", "RUNNING")
    host.pause(root)
    assert host.wait_status(root, ["paused"]) == "paused"
    assert host.cancel(root) == "canceled"
    assert host.api.get_execution(mid)["state"] == "CANCELLED"
    host.refresh()
    assert host.docs[root]["status"] == "canceled"
    assert host.tasks(mid) == {"nap": "SUCCESS"}


def test_cancel_cascades_to_child_workflows(host):
    root = host.start("parent_stub")
    child = host.start("slow", {"seconds": 2}, parent=root, parent_task="run_child")
    host.wait_task(host.mistral_id(child), "nap", "RUNNING")
    assert host.cancel(root) == "canceling"  # the child is still canceling
    assert ("cancel", child) in host.requests
    assert host.api.get_execution(host.mistral_id(child))["state"] == "CANCELLED"
    assert host.wait_status(child, ["canceled", "succeeded"]) == "canceled"
    assert host.wait_status(root, ["canceled", "succeeded"]) == "canceled"
    assert host.tasks(host.mistral_id(child)) == {"nap": "SUCCESS"}
    assert "parent_after" not in host.tasks(host.mistral_id(root))


def test_cancel_twice_is_a_no_op_and_cancel_after_the_end_is_refused(host):
    root = host.start("parent_stub")
    mid = host.mistral_id(root)
    host.wait_task(mid, "run_child", "RUNNING")
    assert host.cancel(root) == "canceling"
    assert host.cancel(root) == "canceling"  # StackStorm: cancel of a canceling execution is a no-op
    status, _, _ = host.runners[root].cancel()  # Mistral accepts it again, nothing changes
    assert status == "canceling"
    host.finish_async_task(mid, "run_child")
    assert host.wait_status(root, ["canceled"]) == "canceled"
    with pytest.raises(InvalidOperationError, match='is "canceled"; a completed execution cannot be canceled'):
        host.cancel(root)
    with pytest.raises(InvalidOperationError, match="only a paused or pausing execution can be resumed"):
        host.resume(root)
