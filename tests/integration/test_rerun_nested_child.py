"""`st2 execution re-run <parent> --tasks parent_task.subtask` where parent_task ran a child
StackStorm mistral-v2 workflow (st2.action) that failed at subtask: the child is re-run in its
old Mistral execution (only subtask runs again), through the real st2 CLI, host and Mistral."""
from __future__ import annotations

import json
from typing import Any, Dict

import pytest
from result_shape import failure_of, output_of

pytestmark = pytest.mark.integration

PACK = {
    "pack.yaml": "ref: nestedrr\nname: nestedrr\ndescription: nested child re-run\nversion: 0.1.0\n",
    "actions/child.yaml": (
        "name: child\nrunner_type: mistral-v2\nentry_point: workflows/child.yaml\n"
        "parameters:\n  word:\n    type: string\n    required: true\n"),
    "actions/workflows/child.yaml": """
version: '2.0'
nestedrr.child:
  description: subtask fails until key nc_fix exists.
  input:
    - word
  output:
    said: <% $.said %>
  tasks:
    first:
      action: std.echo output=<% $.word %>
      publish:
        w: <% task().result %>
      on-success: [subtask]
    subtask:
      action: std.echo output="<% $.w %>-<% st2kv('system.nc_fix') %>"
      publish:
        said: <% task().result %>
      on-success: [last]
    last:
      action: std.noop
""",
    "actions/parent.yaml": "name: parent\nrunner_type: mistral-v2\nentry_point: workflows/parent.yaml\n",
    "actions/workflows/parent.yaml": """
version: '2.0'
nestedrr.parent:
  output:
    final: <% $.final %>
  tasks:
    prep:
      action: std.noop
      on-success: [parent_task]
    parent_task:
      action: st2.action
      input:
        ref: nestedrr.child
        parameters:
          word: go
      publish:
        child: <% task().result.said %>
      on-success: [after]
    after:
      action: std.echo output=<% $.child %>
      publish:
        final: <% task().result %>
""",
}


def _mistral_id(doc: Dict[str, Any]) -> str:
    return doc["context"]["mistral"]["execution_id"]


def _runs(mistral_client, workflow_execution_id: str) -> Dict[str, int]:
    """task name -> number of action executions, for each task of a Mistral workflow execution
    (each task name must have exactly one task execution)."""
    tasks = mistral_client.tasks.list(workflow_execution_id=workflow_execution_id)
    assert len({t.name for t in tasks}) == len(tasks), [t.name for t in tasks]
    return {t.name: len(mistral_client.action_executions.list(task_execution_id=t.id)) for t in tasks}


def test_subtask_of_a_child_st2_workflow_is_rerun_in_the_old_child_mistral_execution(host, mistral_client):
    host.st2("key", "delete", "nc_fix", check=False)
    parent_id = host.run_async("nestedrr.parent")
    parent = host.wait(parent_id, ["succeeded", "failed"])
    assert parent["status"] == "failed", parent["result"]
    (child,) = host.children(parent_id)
    child = host.wait(child["id"], ["failed"])
    child_mistral = _mistral_id(child)
    assert {t["name"]: t["state"] for t in child["result"]["tasks"]} == {"first": "SUCCESS", "subtask": "ERROR"}
    assert "nc_fix" in failure_of(child["result"])
    assert _runs(mistral_client, child_mistral) == {"first": 1, "subtask": 0}  # its input failed (st2kv)

    host.st2("key", "set", "nc_fix", "ok")
    proc = host.st2("execution", "re-run", parent_id, "--tasks", "parent_task.subtask", "--json", check=False)
    rerun = json.loads(proc.stdout)
    assert proc.returncode == 0 and rerun["status"] == "succeeded", rerun["result"]
    rerun = host.get(rerun["id"])
    assert _mistral_id(rerun) == _mistral_id(parent)
    assert output_of(rerun["result"]) == {"final": "go-ok"}

    (new_child,) = host.children(rerun["id"])
    new_child = host.get(new_child["id"])
    assert new_child["status"] == "succeeded" and new_child["action"]["ref"] == "nestedrr.child"
    # Stored as st2.action posted it (as StackStorm does); the runner found the old child itself.
    hint = new_child["context"]["re-run"]
    assert "ref" not in hint and hint["tasks"] == ["subtask"] and hint["reset"] == ["subtask"]
    assert hint["mistral"]["execution_id"] == child_mistral
    assert _mistral_id(new_child) == child_mistral  # the old child's Mistral execution, re-used
    assert output_of(new_child["result"]) == {"said": "go-ok"}
    # Only the failed subtask ran again; first did not, and no other child workflow was started.
    assert _runs(mistral_client, child_mistral) == {"first": 1, "subtask": 1, "last": 1}
    assert mistral_client.executions.get(child_mistral).state == "SUCCESS"
    assert [e.id for e in mistral_client.executions.list(workflow_name="nestedrr.child")] == [child_mistral]
    assert _runs(mistral_client, _mistral_id(parent)) == {"prep": 1, "parent_task": 2, "after": 1}

    # The originals stay as they were.
    assert host.get(parent_id)["status"] == "failed"
    assert host.get(child["id"])["status"] == "failed"


def test_plain_rerun_of_the_parent_task_after_a_failed_child_rerun_starts_a_fresh_child(host, mistral_client):
    host.st2("key", "delete", "nc_fix", check=False)
    parent_id = host.run_async("nestedrr.parent")
    assert host.wait(parent_id, ["succeeded", "failed"])["status"] == "failed"
    (child,) = host.children(parent_id)
    # Re-run the child's subtask while the cause is still there: the child fails again.
    proc = host.st2("execution", "re-run", parent_id, "--tasks", "parent_task.subtask", "--json", check=False)
    first = json.loads(proc.stdout)
    assert proc.returncode == 1 and first["status"] == "failed"
    (again,) = host.children(first["id"])
    assert again["context"]["re-run"]["mistral"]["execution_id"] == _mistral_id(again) == _mistral_id(child)

    # The env of the parent's Mistral execution still holds that hint (Mistral merges env); a
    # plain re-run of parent_task must not re-use it: the child workflow starts afresh.
    host.st2("key", "set", "nc_fix", "ok")
    proc = host.st2("execution", "re-run", first["id"], "--tasks", "parent_task", "--json", check=False)
    second = json.loads(proc.stdout)
    assert proc.returncode == 0 and second["status"] == "succeeded", second["result"]
    (fresh,) = host.children(second["id"])
    assert "re-run" not in fresh["context"] and _mistral_id(fresh) != _mistral_id(child)
    assert fresh["status"] == "succeeded" and output_of(fresh["result"]) == {"said": "go-ok"}
    assert mistral_client.executions.get(_mistral_id(child)).state == "ERROR"  # the old child is left alone
    assert output_of(host.get(second["id"])["result"]) == {"final": "go-ok"}
