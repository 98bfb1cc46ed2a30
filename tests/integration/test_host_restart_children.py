"""Host restart in the middle of a workflow, and StackStorm children started from Mistral (st2.action)."""
from __future__ import annotations

import json

import pytest
from result_shape import output_of

pytestmark = pytest.mark.integration


def test_workflow_completes_with_its_result_after_a_host_restart(st2_host):
    ex_id = st2_host.run_async("hosttest.slow", "seconds=2")
    st2_host.wait(ex_id, ["running"], require_mistral=True)
    st2_host.wait_task(ex_id, "first", ["RUNNING"])
    st2_host.stop()  # down while Mistral keeps working (its pushes fail meanwhile)
    st2_host.start()
    doc = st2_host.wait(ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded"
    assert output_of(doc["result"]) == {"said": "slept 2"}
    got = st2_host.st2_json("execution", "get", ex_id)
    assert got["status"] == "succeeded" and output_of(got["result"]) == {"said": "slept 2"}


def test_st2_action_child_is_created_once_and_reported_back(st2_host):
    ex_id = st2_host.run_async("hosttest.with_child", "word=bee")
    doc = st2_host.wait(ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert "child-bee" in json.dumps(output_of(doc["result"]))
    assert len(doc["children"]) == 1
    shown = st2_host.st2_json("execution", "get", doc["children"][0])
    assert shown["action"]["ref"] == "core.local" and shown["status"] == "succeeded"
    child = st2_host.get(doc["children"][0])
    assert child["parent"] == ex_id and child["result"]["stdout"] == "child-bee"
    assert child["context"]["mistral"]["action_execution_id"]
    assert "auth_token" not in json.dumps(child["context"]) or "********" in json.dumps(child["context"])
    top = [e["id"] for e in st2_host.st2_json("execution", "list", "-n", "1000")]
    assert ex_id in top and child["id"] not in top
    everything = [e["id"] for e in st2_host.st2_json("execution", "list", "--showall", "-n", "1000")]
    assert child["id"] in everything
