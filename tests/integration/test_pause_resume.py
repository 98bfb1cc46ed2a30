"""Pause and resume on a real Mistral 23, through MistralRunner and the cascade (issue 7)."""
from __future__ import annotations

import pytest
from result_shape import output_of
from test_pause_resume_harness import host, mistral  # noqa: F401 - fixtures

from mistral_v2 import cascade
from mistral_v2.exceptions import InvalidOperationError

pytestmark = pytest.mark.integration


def test_async_task_running_pausing_paused_running_succeeded(host):
    root = host.start("parent_stub")
    mid = host.mistral_id(root)
    host.wait_task(mid, "run_child", "RUNNING")
    assert host.pause(root) == "pausing"  # its task is still active
    assert host.api.get_execution(mid)["state"] == "PAUSED"
    host.refresh()
    assert host.docs[root]["status"] == "pausing"
    host.finish_async_task(mid, "run_child")
    assert host.wait_status(root, ["paused", "succeeded"]) == "paused"
    assert "parent_after" not in host.tasks(mid)  # nothing new while paused
    assert host.resume(root) == "running"
    assert host.wait_status(root, ["succeeded", "failed"]) == "succeeded"
    assert host.tasks(mid) == {"run_child": "SUCCESS", "parent_after": "SUCCESS"}


def test_slow_task_pause_resume_continues_where_it_stopped(host):
    root = host.start("slow", {"seconds": 2})
    mid = host.mistral_id(root)
    host.wait_task(mid, "nap", "RUNNING")
    assert host.pause(root) in ("pausing", "paused")
    assert host.wait_status(root, ["paused", "succeeded"]) == "paused"
    assert host.tasks(mid) == {"nap": "SUCCESS"}  # the running sleep finished, nothing after it
    assert host.resume(root) == "running"
    assert host.wait_status(root, ["succeeded", "failed"]) == "succeeded"
    assert host.tasks(mid) == {"nap": "SUCCESS", "after_nap": "SUCCESS", "last": "SUCCESS"}
    assert output_of(host.results[root]) == {"last": "done"}


def test_workbook_depth3_pauses_and_resumes_as_a_whole(host):
    root = host.start("nested", {"seconds": 2})
    host.wait_subworkflow_task(root, "deep_nap", "RUNNING")
    host.pause(root)
    tree = host.tree(root)
    assert tree == {"pause_examples.nested.main": "PAUSED", "pause_examples.nested.sub1": "PAUSED",
                    "pause_examples.nested.sub2": "PAUSED"}
    assert host.wait_status(root, ["paused", "succeeded"]) == "paused"
    tasks = host.all_tasks(root)
    assert tasks == {"call_sub1": "PAUSED", "call_sub2": "PAUSED", "deep_nap": "SUCCESS"}
    assert host.resume(root) == "running"
    assert host.wait_status(root, ["succeeded", "failed"]) == "succeeded"
    assert set(host.tree(root).values()) == {"SUCCESS"}
    assert set(host.all_tasks(root)) == {"call_sub1", "call_sub2", "deep_nap", "sub2_after",
                                         "sub1_after", "main_after"}
    assert output_of(host.results[root]) == {"deep": "sub2 done"}


def test_pause_of_deepest_workbook_subworkflow_pauses_the_root(host):
    root = host.start("nested", {"seconds": 2})
    host.wait_subworkflow_task(root, "deep_nap", "RUNNING")
    sub2 = [s for s in cascade.subworkflow_executions(host.api, host.mistral_id(root))
            if s["workflow_name"].endswith(".sub2")][0]
    host.api.update_execution(sub2["id"], "PAUSED")  # a user pausing it through Mistral's API
    host.wait(lambda: host.api.get_execution(host.mistral_id(root))["state"] == "PAUSED", "root PAUSED")
    assert set(host.tree(root).values()) == {"PAUSED"}
    assert host.wait_status(root, ["paused"]) == "paused"
    assert host.resume(root) == "running"
    assert host.wait_status(root, ["succeeded", "failed"]) == "succeeded"


def _family(host, depth=3):
    """root(parent_stub) -> [mid(parent_stub) ->] leaf(slow): child StackStorm workflows."""
    root = host.start("parent_stub")
    top = root
    if depth == 3:
        top = host.start("parent_stub", parent=root, parent_task="run_child")
    leaf = host.start("slow", {"seconds": 2}, parent=top, parent_task="run_child")
    host.wait_task(host.mistral_id(leaf), "nap", "RUNNING")
    return root, top, leaf


def test_pausing_root_pauses_child_workflows_and_resume_resumes_them(host):
    root, mid, leaf = _family(host)
    assert host.pause(root) == "pausing"  # children are still pausing
    assert ("pause", mid) in host.requests and ("pause", leaf) in host.requests
    for ex in (leaf, mid, root):
        assert host.wait_status(ex, ["paused"]) == "paused"
    assert host.tasks(host.mistral_id(leaf)) == {"nap": "SUCCESS"}
    assert host.resume(root) == "running"
    assert ("resume", mid) in host.requests and ("resume", leaf) in host.requests
    for ex in (leaf, mid, root):
        assert host.wait_status(ex, ["succeeded", "failed"]) == "succeeded"
    assert host.tasks(host.mistral_id(root)) == {"run_child": "SUCCESS", "parent_after": "SUCCESS"}


def test_pause_of_deepest_child_pauses_root_and_its_resume_leaves_root_paused(host):
    root, mid, leaf = _family(host)
    assert host.pause(leaf) == "pausing"
    # cascade up: both ancestors are asked to pause and Mistral pauses their executions
    assert host.docs[mid]["status"] in ("pausing", "paused")
    assert host.docs[root]["status"] in ("pausing", "paused")
    for ex in (leaf, mid, root):
        assert host.wait_status(ex, ["paused"]) == "paused"
        assert host.api.get_execution(host.mistral_id(ex))["state"] == "PAUSED"

    assert host.resume(leaf) == "running"  # resume from the child does not go up
    assert host.wait_status(leaf, ["succeeded", "failed"]) == "succeeded"
    host.wait(lambda: host.tasks(host.mistral_id(mid)).get("run_child") == "SUCCESS", "leaf reported")
    host.refresh()
    assert host.docs[mid]["status"] == "paused" and host.docs[root]["status"] == "paused"
    assert host.api.get_execution(host.mistral_id(mid))["state"] == "PAUSED"
    assert host.api.get_execution(host.mistral_id(root))["state"] == "PAUSED"
    assert "parent_after" not in host.tasks(host.mistral_id(mid))

    assert host.resume(root) == "running"  # resuming the root resumes everything paused below
    for ex in (mid, root):
        assert host.wait_status(ex, ["succeeded", "failed"]) == "succeeded"
    assert host.tasks(host.mistral_id(mid))["parent_after"] == "SUCCESS"


def test_pause_twice_and_resume_of_running_are_no_ops(host):
    root = host.start("parent_stub")
    mid = host.mistral_id(root)
    host.wait_task(mid, "run_child", "RUNNING")
    assert host.resume(root) == "running"  # resume of a running execution: nothing happens
    assert host.api.get_execution(mid)["state"] == "RUNNING"
    assert host.pause(root) == "pausing"
    assert host.pause(root) == "pausing"  # StackStorm: pause of a pausing execution answers its status
    status, _, _ = host.runners[root].pause()  # the runner itself is idempotent too
    assert status == "pausing"
    host.finish_async_task(mid, "run_child")
    assert host.wait_status(root, ["paused"]) == "paused"
    assert host.pause(root) == "paused"
    host.resume(root)
    assert host.wait_status(root, ["succeeded"]) == "succeeded"
    with pytest.raises(InvalidOperationError, match='is "succeeded"; only a running execution can be paused'):
        host.pause(root)


def test_pause_racing_the_last_task_never_stays_pausing(host):
    root = host.start("parent_stub")
    mid = host.mistral_id(root)
    host.wait_task(mid, "run_child", "RUNNING")
    host.finish_async_task(mid, "run_child")  # the last tasks now finish while we pause
    status = host.pause(root)
    assert status in ("pausing", "paused", "succeeded")
    final = host.wait_status(root, ["paused", "succeeded"])
    if final == "paused":  # the pause landed first: a resume finishes it (maybe at once)
        assert host.resume(root) in ("running", "succeeded")
        final = host.wait_status(root, ["succeeded"])
    assert final == "succeeded"
