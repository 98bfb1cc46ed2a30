"""Pause, resume and cancel of a real Mistral workflow with a slow task, through the `st2` CLI."""
from __future__ import annotations

import json

import pytest
from result_shape import failure_of, output_of, task_states

pytestmark = pytest.mark.integration


def test_pause_resume_then_complete(st2_host):
    ex_id = st2_host.run_async("hosttest.slow", "seconds=8")  # the pause must land while `first` sleeps
    st2_host.wait(ex_id, ["running"], require_mistral=True)
    st2_host.wait_task(ex_id, "first", ["RUNNING"])
    paused = st2_host.st2_json("execution", "pause", ex_id)
    assert paused["status"] in ("pausing", "paused")
    doc = st2_host.wait(ex_id, ["paused"])
    assert "third" not in task_states(doc)
    assert st2_host.st2_json("execution", "pause", ex_id)["status"] == "paused"  # StackStorm's no-op
    resumed = st2_host.st2_json("execution", "resume", ex_id)
    assert resumed["status"] in ("running", "resuming")
    doc = st2_host.wait(ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded" and output_of(doc["result"]) == {"said": "slept 8"}
    log = [e["status"] for e in doc["log"]]
    assert log.index("paused") < log.index("running", log.index("paused")) < log.index("succeeded")
    late = st2_host.st2("execution", "resume", ex_id, check=False)
    assert late.returncode != 0 and "only a paused or pausing execution can be resumed" in late.stdout + late.stderr
    done = st2_host.st2("execution", "pause", ex_id, check=False)
    assert done.returncode != 0 and "only a running execution can be paused" in done.stdout + done.stderr


def test_cancel_running_workflow_and_refuse_cancel_of_completed(st2_host):
    ex_id = st2_host.run_async("hosttest.slow", "seconds=8")  # the cancel must land while it runs
    st2_host.wait_task(ex_id, "first", ["RUNNING"])
    out = st2_host.st2("execution", "cancel", ex_id).stdout
    assert "canceled" in out
    doc = st2_host.wait(ex_id, ["canceled"])
    assert "third" not in task_states(doc)
    again = st2_host.st2("execution", "cancel", ex_id, check=False)
    assert again.returncode != 0 and "cannot be canceled" in again.stdout + again.stderr


def test_cancel_paused_workflow(st2_host):
    ex_id = st2_host.run_async("hosttest.slow", "seconds=3")
    st2_host.wait_task(ex_id, "first", ["RUNNING"])
    st2_host.st2("execution", "pause", ex_id)
    st2_host.wait(ex_id, ["paused"])
    st2_host.st2("execution", "cancel", ex_id)
    assert st2_host.wait(ex_id, ["canceled", "canceling"])["status"] in ("canceled", "canceling")
    assert st2_host.wait(ex_id, ["canceled"])["status"] == "canceled"


def test_failed_workflow_rerun_from_the_failed_task_after_fixing_the_cause(st2_host):
    st2_host.st2("key", "delete", "hosttest_ready", check=False)
    proc = st2_host.st2("run", "hosttest.needs_key", "who=ops", "--json", check=False)
    assert proc.returncode != 0  # the CLI exits non-zero for a failed execution
    failed = json.loads(proc.stdout)
    assert failed["status"] == "failed" and "hosttest_ready" in failure_of(failed["result"])
    assert task_states(st2_host.get(failed["id"])) == {"hello": "SUCCESS", "check": "ERROR"}
    st2_host.st2("key", "set", "hosttest_ready", "yes")
    rerun = st2_host.st2_json("execution", "re-run", failed["id"], "--tasks", "check")
    assert rerun["id"] != failed["id"]
    doc = st2_host.wait(rerun["id"], ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert output_of(doc["result"]) == {"hello": "hello ops", "ready": "yes"}
    assert doc["context"]["re-run"] == {"ref": failed["id"], "tasks": ["check"], "reset": ["check"]}
    assert st2_host.get(failed["id"])["status"] == "failed"  # the original stays as it was
    st2_host.st2("key", "delete", "hosttest_ready")
