"""`st2.action` inside workbook subworkflows (depth 1 and 2): Mistral 23 starts subworkflows without
the root's env, so the plugin takes st2_context from the root execution; real host and Mistral."""
from __future__ import annotations

import pytest
import requests
from result_shape import output_of

pytestmark = pytest.mark.integration

WORKBOOK = """
version: '2.0'
name: subwf.book

workflows:
  main:
    input:
      - word
    output:
      got: <% $.got %>
      deep: <% $.deep %>
    tasks:
      task1:
        workflow: sub
        input:
          word: <% $.word %>
        publish:
          got: <% task(task1).result.said %>
        on-success: [task2]
      task2:
        workflow: mid
        input:
          word: deep-<% $.word %>
        publish:
          deep: <% task(task2).result.said %>
  mid:
    input:
      - word
    output:
      said: <% $.said %>
    tasks:
      midtask:
        workflow: sub
        input:
          word: <% $.word %>
        publish:
          said: <% task(midtask).result.said %>
  sub:
    input:
      - word
    output:
      said: <% $.said %>
    tasks:
      subtask:
        action: core.local
        input:
          cmd: echo sub-<% $.word %>
        publish:
          said: <% task(subtask).result.stdout %>
"""

PACK = {
    "pack.yaml": "ref: subwf\nname: subwf\ndescription: st2.action in workbook subworkflows\nversion: 0.1.0\n",
    "actions/book.yaml": (
        "name: book\nrunner_type: mistral-v2\nentry_point: workflows/book.yaml\n"
        "parameters:\n  workflow:\n    type: string\n    default: subwf.book.main\n    immutable: true\n"
        "  word:\n    type: string\n    required: true\n"),
    "actions/workflows/book.yaml": WORKBOOK,
    "rules/on_hook.yaml": (
        "name: on_hook\npack: subwf\ntrigger:\n  type: core.st2.webhook\n  parameters:\n    url: subwf\n"
        "action:\n  ref: subwf.book\n  parameters:\n    word: '{{ trigger.body.word }}'\n"),
}


def test_st2_action_in_subworkflows_reports_back_to_the_root(host, mistral_client):
    root_id = host.run_async("subwf.book", "word=bee")
    root = host.wait(root_id, ["succeeded", "failed"])
    assert root["status"] == "succeeded", root["result"]
    assert output_of(root["result"]) == {"got": "sub-bee", "deep": "sub-deep-bee"}
    root_mistral = root["context"]["mistral"]["execution_id"]

    children = sorted(host.children(root_id), key=lambda c: c["parameters"]["cmd"])
    assert [c["parameters"]["cmd"] for c in children] == ["echo sub-bee", "echo sub-deep-bee"]
    subs = {e.id: e for e in mistral_client.executions.list(root_execution_id=root_mistral)}
    for child in children:
        assert child["status"] == "succeeded" and child["action"]["ref"] == "core.local"
        # The child hangs under the ROOT StackStorm execution, with the root's user.
        assert child["context"]["parent"]["execution_id"] == root_id
        assert child["context"]["parent"]["user"] == root["context"]["user"]
        assert child["context"]["user"] == root["context"]["user"]
        facts = child["context"]["mistral"]
        assert facts["workflow_name"] == "subwf.book.sub" and facts["task_name"] == "subtask"
        assert facts["root_execution_id"] == root_mistral
        assert facts["workflow_execution_id"] in subs  # a subworkflow, not the root
        assert child["callback"]["url"].endswith("/action_executions/%s" % facts["action_execution_id"])
        action_ex = mistral_client.action_executions.get(facts["action_execution_id"])
        assert action_ex.state == "SUCCESS"
        assert "st2_context" not in (action_ex.input or "")  # the token stays out of Mistral's DB

    # Depth 2: main -> task2 (mid) -> midtask (sub) -> subtask.
    deep = next(c for c in children if c["parameters"]["cmd"] == "echo sub-deep-bee")
    sub_ex = subs[deep["context"]["mistral"]["workflow_execution_id"]]
    mid_task = mistral_client.tasks.get(sub_ex.task_execution_id)
    assert mid_task.name == "midtask" and mid_task.workflow_name == "subwf.book.mid"
    assert mistral_client.executions.get(root_mistral).state == "SUCCESS"


def test_st2_action_failure_in_a_subworkflow_fails_the_root(host, mistral_client):
    root_id = host.run_async("subwf.book", "word=x; exit 3")
    root = host.wait(root_id, ["succeeded", "failed"])
    assert root["status"] == "failed", root["result"]
    (child,) = host.children(root_id)  # task1 failed, task2 never started
    assert child["status"] == "failed" and child["context"]["parent"]["execution_id"] == root_id
    states = {t["name"]: t["state"] for t in root["result"]["tasks"]}
    assert states == {"task1": "ERROR"}  # the root workflow's tasks (StackStorm's shape); no task2
    root_mistral = root["context"]["mistral"]["execution_id"]
    sub_states = {t.name: t.state for e in mistral_client.executions.list(root_execution_id=root_mistral)
                  if e.id != root_mistral for t in mistral_client.tasks.list(workflow_execution_id=e.id)}
    assert sub_states == {"subtask": "ERROR"}


def test_child_in_a_subworkflow_keeps_the_roots_trigger_and_rule(host):
    headers = {"St2-Api-Key": host.api_key}
    resp = requests.post(host.base_url + "/api/v1/webhooks/subwf", json={"word": "hook"}, headers=headers,
                         timeout=30)
    assert resp.status_code == 202
    ti = resp.headers["St2-Trigger-Instance-Id"]
    (enf,) = requests.get(host.base_url + "/api/v1/ruleenforcements?trigger_instance=" + ti,
                          headers=headers, timeout=10).json()
    root = host.wait(enf["execution_id"], ["succeeded", "failed"])
    assert root["status"] == "succeeded", root["result"]
    assert output_of(root["result"]) == {"got": "sub-hook", "deep": "sub-deep-hook"}
    children = host.children(root["id"])
    assert len(children) == 2
    for child in children:
        parent = child["context"]["parent"]
        assert parent["execution_id"] == root["id"]
        assert parent["trigger_instance"]["id"] == ti and parent["rule"]["ref"] == "subwf.on_hook"
        assert parent["user"] == root["context"]["user"] == "stanley"
