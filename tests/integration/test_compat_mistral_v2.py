"""Workflows written for StackStorm's own mistral_v2 runner + st2mistral, run unchanged on the real
Mistral through the local host: conditional on-complete, reverse workflows with `task_name`,
ad-hoc actions based on StackStorm actions, a child workflow's context, st2.action failures,
notify / skip_notify."""
from __future__ import annotations

from pathlib import Path

import pytest
from result_shape import output_either, tasks_by_name

pytestmark = pytest.mark.integration

PACK_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "packs" / "compat_tests"
PACK = {str(p.relative_to(PACK_DIR)): p.read_text() for p in PACK_DIR.rglob("*.yaml")}


@pytest.mark.parametrize("x, branch", [(9, "big"), (2, "small")])
def test_conditional_on_complete_runs_on_real_mistral(host, mistral_client, x, branch):
    doc = host.wait(host.run_async("compat_tests.cond", "x=%d" % x), ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert output_either(doc["result"]) == {"said": "got %d" % x, "branch": branch}
    assert set(tasks_by_name(doc)) == {"first", branch}
    definition = mistral_client.workflows.get("compat_tests.cond").definition
    assert "&id" not in definition and "*id" not in definition and "on-skip" in definition


def test_reverse_workflow_with_task_name_from_the_action(host):
    doc = host.wait(host.run_async("compat_tests.reverse", "cmd=echo one"), ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert output_either(doc["result"]) == {"stdout": "after one"}
    assert set(tasks_by_name(doc)) == {"task1", "task2"}          # `unrelated` is not required: not run


@pytest.mark.parametrize("param, target, ran", [
    ("task_name", "task1", {"task1"}),
    ("task", "task2", {"task1", "task2"}),                # the former name still works
])
def test_reverse_workflow_target_given_at_run_time(host, param, target, ran):
    ex_id = host.run_async("compat_tests.reverse_any", "cmd=echo two", "%s=%s" % (param, target))
    doc = host.wait(ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert set(tasks_by_name(doc)) == ran


def test_reverse_workflow_with_disagreeing_task_and_task_name_is_refused(host):
    doc = host.wait(host.run_async("compat_tests.reverse_any", "cmd=x", "task_name=task1", "task=task2"),
                    ["succeeded", "failed"])
    assert doc["status"] == "failed"
    assert 'task_name="task1" and task="task2" disagree' in doc["result"]["error"]


def test_adhoc_actions_based_on_stackstorm_actions(host):
    doc = host.wait(host.run_async("compat_tests.book", "word=hey"), ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert output_either(doc["result"]) == {"shouted": "hey!", "fixed": "fixed"}
    children = sorted(host.children(doc["id"]), key=lambda c: c["parameters"]["cmd"])
    assert [(c["action"]["ref"], c["parameters"]["cmd"], c["status"]) for c in children] == [
        ("core.local", "echo fixed", "succeeded"), ("core.local", "echo hey!", "succeeded")]
    assert all(c["context"]["parent"]["execution_id"] == doc["id"] for c in children)


def test_child_workflow_context_notify_and_skip_notify(host, mistral_client):
    parent = host.wait(host.run_async("compat_tests.parent"), ["succeeded", "failed"])
    assert parent["status"] == "succeeded", parent["result"]
    assert output_either(output_either(parent["result"])["child"]) == {"said": "child hi"}
    children = {c["action"]["ref"] + ":" + str(c["parameters"].get("cmd")): c
                for c in host.children(parent["id"])}
    child = children["compat_tests.child:None"]
    pm = parent["context"]["mistral"]
    cm = child["context"]["mistral"]
    call = mistral_client.tasks.list(workflow_execution_id=pm["execution_id"])
    call_task = next(t for t in call if t.name == "call_child")
    (action_ex,) = mistral_client.action_executions.list(task_execution_id=call_task.id)
    # the link to the parent's task stays at the top; the parent's workflow moved under "parent"
    assert cm["task_name"] == "call_child" and cm["task_execution_id"] == call_task.id
    assert cm["action_execution_id"] == action_ex.id
    assert cm["callback_url"] == "/v2/action_executions/%s" % action_ex.id
    assert cm["parent"]["workflow_execution_id"] == pm["execution_id"]
    assert cm["parent"]["workflow_name"] == "compat_tests.parent"
    # ... and the child's own Mistral execution
    assert cm["workflow_name"] == "compat_tests.child"
    assert mistral_client.executions.get(cm["execution_id"]).workflow_name == "compat_tests.child"
    assert child["callback"]["url"].endswith("/action_executions/%s" % action_ex.id)
    # notify of the parent reaches children of tasks not in skip_notify
    notify = {"on-complete": {"message": "done", "routes": ["slack"]}}
    assert parent["liveaction"]["notify"] == notify
    assert children["core.local:echo loud"]["liveaction"]["notify"] == notify
    assert not children["core.local:echo quiet"]["liveaction"].get("notify")
    assert child["liveaction"]["notify"] == notify
    # the grandchild (core.local in the child workflow) is linked to the child's task
    (grandchild,) = host.children(child["id"])
    gm = grandchild["context"]["mistral"]
    assert gm["workflow_execution_id"] == cm["execution_id"] and gm["task_name"] == "say"
    assert gm["workflow_name"] == "compat_tests.child"


def test_st2_action_refused_by_stackstorm_carries_the_http_response(host):
    doc = host.wait(host.run_async("compat_tests.bad_ref"), ["succeeded", "failed"])
    assert doc["status"] == "failed"
    task = tasks_by_name(doc)["call"]
    assert task["state"] == "ERROR"
    error = task["result"]
    assert error["status"] in (400, 404), error     # StackStorm answers 400, the local host 404
    assert "compat_tests.does_not_exist" in str(error["content"])
    assert error["url"].endswith("/executions")
    assert error["headers"]["Content-Type"].startswith("application/json")
    assert error["error_type"] == "StackStormAPIError"
