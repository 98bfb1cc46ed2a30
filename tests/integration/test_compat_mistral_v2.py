"""Workflows written for StackStorm's own mistral_v2 runner + st2mistral, run unchanged on the real
Mistral through the local host: conditional on-complete, reverse workflows with `task_name`,
ad-hoc actions based on StackStorm actions, a child workflow's context, st2.action failures,
notify / skip_notify."""
from __future__ import annotations

from typing import Any, Dict

import pytest

pytestmark = pytest.mark.integration

PACK = {
    "pack.yaml": "ref: compat\nname: compat\ndescription: StackStorm 3.2 mistral_v2 workflows\nversion: 0.1.0\n",
    # A conditional on-complete (the resume hooks add an on-skip reusing it: YAML anchors before).
    "actions/cond.yaml": (
        "name: cond\nrunner_type: mistral-v2\nentry_point: workflows/cond.yaml\n"
        "parameters:\n  x:\n    type: integer\n    required: true\n"),
    "actions/workflows/cond.yaml": """version: '2.0'
compat.cond:
  input: [x]
  output:
    said: <% $.said %>
    branch: <% $.branch %>
  tasks:
    first:
      action: core.local cmd="echo got <% $.x %>"
      publish:
        said: <% task(first).result.stdout %>
      on-complete:
        - big: <% $.x > 5 %>
        - small: <% $.x <= 5 %>
    big:
      action: std.echo output='big'
      publish:
        branch: <% task(big).result %>
    small:
      action: std.echo output='small'
      publish:
        branch: <% task(small).result %>
""",
    # As the examples pack's mistral-reverse-basic: task_name is an immutable action parameter.
    "actions/reverse.yaml": (
        "name: reverse\nrunner_type: mistral-v2\nentry_point: workflows/reverse.yaml\n"
        "parameters:\n  cmd:\n    type: string\n    required: true\n"
        "  task_name:\n    type: string\n    default: task2\n    immutable: true\n"),
    "actions/reverse_any.yaml": (
        "name: reverse_any\nrunner_type: mistral-v2\nentry_point: workflows/reverse_any.yaml\n"
        "parameters:\n  cmd:\n    type: string\n    required: true\n"),
    "actions/workflows/reverse.yaml": """version: '2.0'
compat.reverse:
  type: reverse
  input: [cmd]
  output:
    stdout: <% $.stdout %>
  tasks:
    task1:
      action: core.local cmd=<% $.cmd %>
      publish:
        stdout: <% task(task1).result.stdout %>
    task2:
      action: std.echo output="after <% $.stdout %>"
      requires: [task1]
      publish:
        stdout: <% task(task2).result %>
    unrelated:
      action: std.fail
""",
    # Ad-hoc actions whose base is a StackStorm action.
    "actions/book.yaml": (
        "name: book\nrunner_type: mistral-v2\nentry_point: workflows/book.yaml\n"
        "parameters:\n  workflow:\n    type: string\n    default: compat.book.main\n    immutable: true\n"
        "  word:\n    type: string\n    required: true\n"),
    "actions/workflows/book.yaml": """version: '2.0'
name: compat.book
actions:
  shout:
    base: core.local
    base-input:
      cmd: echo <% $.word %>!
    input: [word]
    output: <% $.stdout %>
  fixed:
    base: core.local cmd="echo fixed"
workflows:
  main:
    input: [word]
    output:
      shouted: <% $.shouted %>
      fixed: <% $.fixed %>
    tasks:
      t1:
        action: shout word=<% $.word %>
        publish:
          shouted: <% task(t1).result %>
        on-success: [t2]
      t2:
        action: fixed
        publish:
          fixed: <% task(t2).result.stdout %>
""",
    # A parent calling a child mistral-v2 workflow and core actions; notify + skip_notify.
    "actions/parent.yaml": (
        "name: parent\nrunner_type: mistral-v2\nentry_point: workflows/parent.yaml\n"
        "parameters:\n  skip_notify:\n    default: [quiet]\n"
        "notify:\n  on-complete:\n    message: done\n    routes: [slack]\n"),
    "actions/workflows/parent.yaml": """version: '2.0'
compat.parent:
  output:
    child: <% $.child %>
  tasks:
    call_child:
      action: compat.child
      input:
        word: hi
      publish:
        child: <% task(call_child).result %>
      on-success: [loud, quiet]
    loud:
      action: core.local cmd="echo loud"
    quiet:
      action: core.local cmd="echo quiet"
""",
    "actions/child.yaml": (
        "name: child\nrunner_type: mistral-v2\nentry_point: workflows/child.yaml\n"
        "parameters:\n  word:\n    type: string\n    required: true\n"),
    "actions/workflows/child.yaml": """version: '2.0'
compat.child:
  input: [word]
  output:
    said: <% $.said %>
  tasks:
    say:
      action: core.local cmd="echo child <% $.word %>"
      publish:
        said: <% task(say).result.stdout %>
""",
    # st2.action refused by StackStorm (no such action).
    "actions/bad_ref.yaml": "name: bad_ref\nrunner_type: mistral-v2\nentry_point: workflows/bad_ref.yaml\n",
    "actions/workflows/bad_ref.yaml": """version: '2.0'
compat.bad_ref:
  tasks:
    call:
      action: st2.action
      input:
        ref: compat.does_not_exist
        parameters: {}
""",
}


PACK["actions/workflows/reverse_any.yaml"] = PACK["actions/workflows/reverse.yaml"].replace(
    "compat.reverse:", "compat.reverse_any:")


def _output(result: Dict[str, Any]) -> Dict[str, Any]:
    """The workflow output in the execution result (nested under "output" or at the top)."""
    out = result.get("output")
    return out if isinstance(out, dict) else result


def _tasks(doc: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {t["name"]: t for t in doc["result"]["tasks"]}


@pytest.fixture(scope="module")
def host(st2_host, tmp_path_factory) -> Any:
    with type(st2_host).serving(tmp_path_factory.mktemp("compat_host"), PACK, st2_host.mistral_url) as ours:
        yield ours


@pytest.mark.parametrize("x, branch", [(9, "big"), (2, "small")])
def test_conditional_on_complete_runs_on_real_mistral(host, mistral_client, x, branch):
    doc = host.wait(host.run_async("compat.cond", "x=%d" % x), ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert _output(doc["result"]) == {"said": "got %d" % x, "branch": branch}
    assert set(_tasks(doc)) == {"first", branch}
    definition = mistral_client.workflows.get("compat.cond").definition
    assert "&id" not in definition and "*id" not in definition and "on-skip" in definition


def test_reverse_workflow_with_task_name_from_the_action(host):
    doc = host.wait(host.run_async("compat.reverse", "cmd=echo one"), ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert _output(doc["result"]) == {"stdout": "after one"}
    assert set(_tasks(doc)) == {"task1", "task2"}          # `unrelated` is not required: not run


@pytest.mark.parametrize("param, target, ran", [
    ("task_name", "task1", {"task1"}),
    ("task", "task2", {"task1", "task2"}),                # the former name still works
])
def test_reverse_workflow_target_given_at_run_time(host, param, target, ran):
    ex_id = host.run_async("compat.reverse_any", "cmd=echo two", "%s=%s" % (param, target))
    doc = host.wait(ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert set(_tasks(doc)) == ran


def test_reverse_workflow_with_disagreeing_task_and_task_name_is_refused(host):
    doc = host.wait(host.run_async("compat.reverse_any", "cmd=x", "task_name=task1", "task=task2"),
                    ["succeeded", "failed"])
    assert doc["status"] == "failed"
    assert 'task_name="task1" and task="task2" disagree' in doc["result"]["error"]


def test_adhoc_actions_based_on_stackstorm_actions(host):
    doc = host.wait(host.run_async("compat.book", "word=hey"), ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert _output(doc["result"]) == {"shouted": "hey!", "fixed": "fixed"}
    children = sorted(host.children(doc["id"]), key=lambda c: c["parameters"]["cmd"])
    assert [(c["action"]["ref"], c["parameters"]["cmd"], c["status"]) for c in children] == [
        ("core.local", "echo fixed", "succeeded"), ("core.local", "echo hey!", "succeeded")]
    assert all(c["context"]["parent"]["execution_id"] == doc["id"] for c in children)


def test_child_workflow_context_notify_and_skip_notify(host, mistral_client):
    parent = host.wait(host.run_async("compat.parent"), ["succeeded", "failed"])
    assert parent["status"] == "succeeded", parent["result"]
    assert _output(_output(parent["result"])["child"]) == {"said": "child hi"}
    children = {c["action"]["ref"] + ":" + str(c["parameters"].get("cmd")): c
                for c in host.children(parent["id"])}
    child = children["compat.child:None"]
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
    assert cm["parent"]["workflow_name"] == "compat.parent"
    # ... and the child's own Mistral execution
    assert cm["workflow_name"] == "compat.child"
    assert mistral_client.executions.get(cm["execution_id"]).workflow_name == "compat.child"
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
    assert gm["workflow_name"] == "compat.child"


def test_st2_action_refused_by_stackstorm_carries_the_http_response(host):
    doc = host.wait(host.run_async("compat.bad_ref"), ["succeeded", "failed"])
    assert doc["status"] == "failed"
    task = _tasks(doc)["call"]
    assert task["state"] == "ERROR"
    error = task["result"]
    assert error["status"] == 404, error
    assert "compat.does_not_exist" in str(error["content"])
    assert error["url"].endswith("/executions")
    assert error["headers"]["Content-Type"].startswith("application/json")
    assert error["error_type"] == "StackStormAPIError"
