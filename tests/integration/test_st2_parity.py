"""Behaviour of StackStorm's own mistral_v2 runner (<= 3.2) kept: result shape read by parents and
the CLI, auto-pause (`pause-before`), cancel of a child workflow showing on its parent at once.

Local host + real Mistral 23 + the st2mistral plugin.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List

import pytest
from result_shape import output_of, task_states

pytestmark = pytest.mark.integration


def _action(name: str, params: str = "") -> str:
    return ("name: %s\nrunner_type: mistral-v2\nentry_point: workflows/%s.yaml\n" % (name, name)
            + ("parameters:\n" + params if params else ""))


PACK = {
    "pack.yaml": "ref: parity\nname: parity\ndescription: st2 mistral_v2 parity\nversion: 0.1.0\n",
    "actions/paused_before.yaml": _action("paused_before"),
    "actions/workflows/paused_before.yaml": """version: '2.0'
parity.paused_before:
  output:
    said: <% $.said %>
  tasks:
    first:
      action: std.noop
      on-success: [second]
    second:
      action: core.local
      input:
        cmd: echo resumed
      pause-before: true
      publish:
        said: <% task(second).result.stdout %>
""",
    "actions/child.yaml": _action("child", "  word:\n    type: string\n    required: true\n"),
    "actions/workflows/child.yaml": """version: '2.0'
parity.child:
  input:
    - word
  output:
    stdout: <% $.stdout %>
    word: <% $.word %>
  tasks:
    run:
      action: core.local
      input:
        cmd: echo child-<% $.word %>
      publish:
        stdout: <% task(run).result.stdout %>
""",
    "actions/parent.yaml": _action("parent"),
    "actions/workflows/parent.yaml": """version: '2.0'
parity.parent:
  output:
    got: <% $.got %>
    state: <% $.state %>
  tasks:
    call:
      action: parity.child word=bee
      publish:
        got: <% task(call).result.stdout %>
        state: <% task(call).result.extra.state %>
""",
    "actions/slow_child.yaml": _action("slow_child"),
    "actions/workflows/slow_child.yaml": """version: '2.0'
parity.slow_child:
  tasks:
    wait:
      action: core.local
      input:
        cmd: sleep 300
        timeout: 400
""",
    "actions/cancel_parent.yaml": _action("cancel_parent"),
    "actions/workflows/cancel_parent.yaml": """version: '2.0'
parity.cancel_parent:
  tasks:
    call:
      action: parity.slow_child
      on-complete: [after]
    after:
      action: std.noop
""",
}


def _wait_children(host: Any, ex_id: str, count: int, statuses: List[str]) -> List[Dict[str, Any]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = host.children(ex_id)
        if len(children) >= count and all(c["status"] in statuses for c in children):
            return children
        time.sleep(0.2)
    raise AssertionError("children of %s: %s" % (ex_id, [(c["id"], c["status"]) for c in host.children(ex_id)]))


def test_parent_reads_child_workflow_result_keys_and_cli_gets_a_key(host):
    ex_id = host.run_async("parity.parent")
    doc = host.wait(ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert output_of(doc["result"]) == {"got": "child-bee", "state": "SUCCESS"}
    assert doc["result"]["extra"] == {"state": "SUCCESS", "state_info": None}
    assert [(t["name"], t["state"]) for t in doc["result"]["tasks"]] == [("call", "SUCCESS")]
    (child,) = host.children(ex_id)
    assert output_of(child["result"]) == {"stdout": "child-bee", "word": "bee"}
    assert set(child["result"]["tasks"][0]) == {
        "id", "name", "workflow_execution_id", "workflow_name", "created_at", "updated_at", "state",
        "state_info", "result", "input", "published"}
    got = host.st2("execution", "get", child["id"], "-k", "stdout").stdout
    assert "child-bee" in got and "extra" not in got


def test_pause_before_task_ends_paused_and_resumes(host):
    ex_id = host.run_async("parity.paused_before")
    doc = host.wait(ex_id, ["paused", "succeeded", "failed"], timeout=60)
    assert doc["status"] == "paused", (doc["status"], doc["result"])
    assert task_states(doc) == {"first": "SUCCESS", "second": "IDLE"}
    assert doc["result"]["extra"]["state"] == "PAUSED"
    assert host.children(ex_id) == []  # the paused task started nothing
    host.st2("execution", "resume", ex_id)
    doc = host.wait(ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert output_of(doc["result"]) == {"said": "resumed"}
    assert task_states(doc) == {"first": "SUCCESS", "second": "SUCCESS"}


def test_cancel_of_a_child_workflow_shows_the_parent_canceling_at_once(host):
    ex_id = host.run_async("parity.cancel_parent")
    (child,) = _wait_children(host, ex_id, 1, ["running"])
    (grandchild,) = _wait_children(host, child["id"], 1, ["running"])  # core.local sleep 300
    host.st2("execution", "cancel", child["id"])
    # The grandchild keeps running (a cancel lets running actions finish), so the child stays
    # canceling; the parent must not wait for it to show canceling.
    parent = host.wait(ex_id, ["canceling", "canceled", "succeeded", "failed"], timeout=60)
    assert parent["status"] == "canceling", parent["status"]
    assert host.get(child["id"])["status"] == "canceling"
    assert host.get(grandchild["id"])["status"] == "running"
    assert task_states(parent) == {"call": "CANCELLED"}  # `after` never scheduled
    host.st2("execution", "cancel", grandchild["id"])
    assert host.wait(child["id"], ["canceled", "failed", "succeeded"])["status"] == "canceled"
    parent = host.wait(ex_id, ["canceled", "failed", "succeeded"])
    assert parent["status"] == "canceled"
    assert parent["result"]["extra"]["state"] == "CANCELLED"
