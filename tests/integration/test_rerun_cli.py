"""`st2 execution re-run` (the real st2 CLI) on the local host and a real Mistral: task re-runs
in the same Mistral execution, fresh re-runs, with-items --no-reset, and every refusal."""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Tuple

import pytest
from result_shape import failure_of, output_of, task_states

pytestmark = pytest.mark.integration

PACK = {
    "pack.yaml": "ref: reruncli\nname: reruncli\ndescription: re-run through the st2 CLI\nversion: 0.1.0\n",
    "actions/parallel.yaml": (
        "name: parallel\nrunner_type: mistral-v2\nentry_point: workflows/parallel.yaml\n"
        "parameters:\n  greeting:\n    type: string\n    default: hello\n"),
    "actions/workflows/parallel.yaml": """
version: '2.0'
reruncli.parallel:
  description: t1 fans out to t3 and t4, which fail until keys rc_size3 / rc_size4 exist.
  input:
    - greeting
  output:
    greeting: <% $.g %>
    r3: <% $.r3 %>
    r4: <% $.r4 %>
  tasks:
    t1:
      action: std.echo output=<% $.greeting %>
      publish:
        g: <% task().result %>
      on-success: [t3, t4]
    t3:
      action: std.test_dict
      input:
        size: <% int(st2kv('system.rc_size3')) %>
        key_prefix: a
        val: x
      publish:
        r3: <% task().result %>
    t4:
      action: std.test_dict
      input:
        size: <% int(st2kv('system.rc_size4')) %>
        key_prefix: b
        val: y
      publish:
        r4: <% task().result %>
""",
    "actions/wb.yaml": (
        "name: wb\nrunner_type: mistral-v2\nentry_point: workflows/wb.yaml\n"
        "parameters:\n  workflow:\n    type: string\n    default: reruncli.wb.main\n    immutable: true\n"),
    "actions/workflows/wb.yaml": """
version: '2.0'
name: reruncli.wb
workflows:
  main:
    output:
      s: <% $.s %>
    tasks:
      task1:
        workflow: sub
        publish:
          s: <% task().result.s %>
        on-success: [task2]
      task2:
        action: std.noop
  sub:
    output:
      s: <% $.s %>
    tasks:
      subtask1:
        action: std.echo output=<% st2kv('system.rc_sub') %>
        publish:
          s: <% task().result %>
""",
    "actions/items.yaml": "name: items\nrunner_type: mistral-v2\nentry_point: workflows/items.yaml\n",
    "actions/workflows/items.yaml": """
version: '2.0'
reruncli.items:
  description: Five items; the items listed in key rc_bad (comma separated) fail.
  tasks:
    t:
      with-items: i in <% [0, 1, 2, 3, 4] %>
      action: std.test_dict
      input:
        size: <% switch(str($.i) in st2kv('system.rc_bad').split(',') => 'broken', true => 1) %>
        key_prefix: item<% $.i %>_
        val: <% $.i %>
      publish:
        results: <% task().result %>
      on-success: [done]
    done:
      action: std.noop
""",
    "actions/hold.yaml": "name: hold\nrunner_type: mistral-v2\nentry_point: workflows/hold.yaml\n",
    "actions/workflows/hold.yaml": """
version: '2.0'
reruncli.hold:
  description: wait stays RUNNING until canceled.
  tasks:
    wait:
      action: std.async_noop
""",
}


def _mistral_id(doc: Dict[str, Any]) -> str:
    return doc["context"]["mistral"]["execution_id"]


def _run_failed(host, ref: str, *params: str) -> Dict[str, Any]:
    ex_id = host.run_async(ref, *params)
    doc = host.wait(ex_id, ["succeeded", "failed", "canceled"])
    assert doc["status"] == "failed", doc["result"]
    return doc


def _rerun(host, ex_id: str, *args: str) -> Tuple[int, Dict[str, Any]]:
    """`st2 execution re-run <id> <args> --json`: (exit code, the new execution once finished)."""
    proc = host.st2("execution", "re-run", ex_id, *args, "--json", check=False)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("no JSON from st2 (%d):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr)) from None
    return proc.returncode, doc


def _refused(host, original: Dict[str, Any], mistral_client, *args: str) -> str:
    """Re-run that must be refused: a failed new execution naming the problem; nothing else changes."""
    mistral_before = mistral_client.executions.get(_mistral_id(original))
    rc, new = _rerun(host, original["id"], *args)
    assert rc == 1 and new["id"] != original["id"]
    new = host.get(new["id"])
    assert new["status"] == "failed" and new["result"]["error_type"] == "RerunError", new["result"]
    assert "mistral" not in new["context"]  # no Mistral execution tied to the refused re-run
    now = host.get(original["id"])
    assert (now["status"], now["result"], now["end_timestamp"]) == (
        original["status"], original["result"], original["end_timestamp"])
    mistral_after = mistral_client.executions.get(_mistral_id(original))
    assert (mistral_after.state, mistral_after.updated_at) == (mistral_before.state, mistral_before.updated_at)
    return new["result"]["error"]


def _set_key(host, name: str, value: str) -> None:
    host.st2("key", "set", name, value)


def _action_executions(mistral_client, task_id: str) -> List[Any]:
    return mistral_client.action_executions.list(task_execution_id=task_id)


def test_parallel_branches_refusals_then_rerun_in_the_same_mistral_execution(host, mistral_client):
    original = _run_failed(host, "reruncli.parallel", "greeting=hi")
    assert task_states(original, own_only=True) == {"t1": "SUCCESS", "t3": "ERROR", "t4": "ERROR"}
    assert "rc_size3" in failure_of(original["result"]) or "rc_size4" in failure_of(original["result"])

    msg = _refused(host, original, mistral_client, "--tasks", "nope", "t3")
    assert msg == "Cannot re-run: task 'nope' does not exist (tasks at this level: t1, t3, t4)."
    msg = _refused(host, original, mistral_client, "--tasks", "t1", "t3")
    assert msg == "Cannot re-run: task 't1' is SUCCESS."
    plain = host.st2("execution", "re-run", original["id"], "--tasks", "t1", check=False)  # human output
    text = re.sub(r"\x1b\[[0-9;]*m", "", plain.stdout)
    assert plain.returncode == 1 and re.search(r"^status: failed", text, re.M), text
    assert "error: 'Cannot re-run: task ''t1'' is SUCCESS.'" in text  # YAML-quoted by the CLI
    msg = _refused(host, original, mistral_client, "--tasks", "t3", "t4", "--no-reset", "t3")
    assert msg == "Cannot re-run: --no-reset applies only to with-items tasks; task 't3' is not a with-items task."
    # Refused at request time (as StackStorm's controller): shown by the CLI, no execution created.
    before = host.st2_json("execution", "list", "-n", "100")
    proc = host.st2("execution", "re-run", original["id"], "greeting=other", "--tasks", "t3", check=False)
    assert proc.returncode == 1
    assert "400" in proc.stdout + proc.stderr
    assert "Parameters override is not supported when re-running task(s)" in proc.stdout + proc.stderr
    assert len(host.st2_json("execution", "list", "-n", "100")) == len(before)

    _set_key(host, "rc_size3", "2")
    _set_key(host, "rc_size4", "1")
    rc, rerun = _rerun(host, original["id"], "--tasks", "t3", "t4")
    assert rc == 0 and rerun["status"] == "succeeded", rerun["result"]
    rerun = host.get(rerun["id"])
    assert _mistral_id(rerun) == _mistral_id(original)
    assert rerun["context"]["re-run"]["ref"] == original["id"]
    assert sorted(rerun["context"]["re-run"]["tasks"]) == ["t3", "t4"]
    assert sorted(rerun["context"]["re-run"]["reset"]) == ["t3", "t4"]
    assert rerun["parameters"] == {"greeting": "hi"}
    assert output_of(rerun["result"]) == {"greeting": "hi", "r3": {"a0": "x", "a1": "x"}, "r4": {"b0": "y"}}
    assert task_states(rerun, own_only=True) == {"t1": "SUCCESS", "t3": "SUCCESS", "t4": "SUCCESS"}
    t1 = next(t for t in mistral_client.tasks.list(workflow_execution_id=_mistral_id(original)) if t.name == "t1")
    assert len(_action_executions(mistral_client, t1.id)) == 1  # t1 did not run again
    now = host.get(original["id"])
    assert (now["status"], now["result"]) == (original["status"], original["result"])

    # Finished now: a task re-run is refused, naming the workflow state.
    msg = _refused(host, rerun, mistral_client, "--tasks", "t3")
    assert "is SUCCESS, not ERROR" in msg and "task 't3' is SUCCESS" in msg

    # Without --tasks: a completely new execution (new Mistral execution), parameters overridable.
    rc, fresh = _rerun(host, original["id"], "greeting=bye")
    assert rc == 0 and fresh["status"] == "succeeded", fresh["result"]
    fresh = host.get(fresh["id"])
    assert fresh["context"]["re-run"] == {"ref": original["id"]}
    assert _mistral_id(fresh) not in (_mistral_id(original), _mistral_id(rerun))
    assert fresh["parameters"] == {"greeting": "bye"} and fresh["result"]["greeting"] == "bye"


def test_rerun_of_a_running_execution_is_refused_and_it_keeps_running(host, mistral_client):
    ex_id = host.run_async("reruncli.hold")
    running = host.wait(ex_id, ["running"], require_mistral=True)
    host.wait_task(ex_id, "wait", ["RUNNING"])
    rc, new = _rerun(host, ex_id, "--tasks", "wait")
    assert rc == 1
    new = host.get(new["id"])
    assert new["status"] == "failed"
    assert new["result"]["error"].startswith("Cannot re-run: workflow execution %s is RUNNING, not ERROR"
                                             % _mistral_id(running))
    assert "task 'wait' is RUNNING" in new["result"]["error"]
    assert host.get(ex_id)["status"] == "running"
    assert mistral_client.executions.get(_mistral_id(running)).state == "RUNNING"
    host.st2("execution", "cancel", ex_id)
    host.wait(ex_id, ["canceling", "canceled"])
    # std.async_noop never ends by itself: complete it so the canceled workflow settles.
    (task,) = mistral_client.tasks.list(workflow_execution_id=_mistral_id(running))
    for action_ex in _action_executions(mistral_client, task.id):
        mistral_client.action_executions.update(action_ex.id, state="SUCCESS")
    assert host.wait(ex_id, ["canceled"])["status"] == "canceled"


def test_workbook_subworkflow_task_rerun_by_dotted_name(host, mistral_client):
    original = _run_failed(host, "reruncli.wb")
    assert {t["name"]: t["state"] for t in original["result"]["tasks"]} == {"task1": "ERROR"}  # root's
    msg = _refused(host, original, mistral_client, "--tasks", "task1.nope")
    assert msg == "Cannot re-run: task 'task1.nope' does not exist (tasks in task1: subtask1)."
    _set_key(host, "rc_sub", "fixed")
    rc, rerun = _rerun(host, original["id"], "--tasks", "task1.subtask1")
    assert rc == 0 and rerun["status"] == "succeeded", rerun["result"]
    rerun = host.get(rerun["id"])
    assert _mistral_id(rerun) == _mistral_id(original)
    assert output_of(rerun["result"]) == {"s": "fixed"}
    sub_runs = mistral_client.executions.list(task=next(
        t["id"] for t in original["result"]["tasks"] if t["name"] == "task1"))
    assert len(sub_runs) == 1  # the same sub-workflow execution, its failed task re-run in place


def test_with_items_no_reset_reruns_only_the_failed_items(host, mistral_client):
    _set_key(host, "rc_bad", "1,3")
    first = _run_failed(host, "reruncli.items")
    second = _run_failed(host, "reruncli.items")
    task_ids = {}
    for doc in (first, second):
        (task,) = [t for t in doc["result"]["tasks"] if t["name"] == "t"]
        assert task["state"] == "ERROR"
        states = sorted(a.state for a in _action_executions(mistral_client, task["id"]))
        assert states == ["ERROR", "ERROR", "SUCCESS", "SUCCESS", "SUCCESS"]
        task_ids[doc["id"]] = task["id"]

    _set_key(host, "rc_bad", "none")
    rc, rerun = _rerun(host, first["id"], "--tasks", "t", "--no-reset", "t")
    assert rc == 0 and rerun["status"] == "succeeded", rerun["result"]
    assert "reset" not in host.get(rerun["id"])["context"]["re-run"]  # as StackStorm's API stores it
    assert len(_action_executions(mistral_client, task_ids[first["id"]])) == 5 + 2

    rc, rerun = _rerun(host, second["id"], "--tasks", "t")
    assert rc == 0 and rerun["status"] == "succeeded", rerun["result"]
    assert len(_action_executions(mistral_client, task_ids[second["id"]])) == 5 + 5
    output = host.get(rerun["id"])["result"]["tasks"]
    assert [t["state"] for t in output if t["name"] == "t"] == ["SUCCESS"]
