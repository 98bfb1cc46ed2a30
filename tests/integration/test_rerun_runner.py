"""MistralRunner.run() for a re-run (rerun_ex_ref + context["re-run"]) against a real Mistral 23."""
from __future__ import annotations

import os
import types
from typing import Any, Dict, Optional

import pytest
import yaml
from runner_wiring import mistral_options, wire_runner

from mistral_v2 import results

pytestmark = pytest.mark.integration

PACK_DIR = os.path.join(os.path.dirname(__file__), "..", "fixtures", "packs", "rerun_examples")
ST2_API_URL = "http://127.0.0.1:9/api/v1"


@pytest.fixture(scope="module")
def mistral(mistral_server):
    with mistral_options(v2_base_url=mistral_server.url, api_url=ST2_API_URL, enable_polling=True):
        yield mistral_server


def make_runner(action: str, context: Dict[str, Any], rerun_of: Optional[Dict[str, Any]] = None):
    """A runner wired the way the host wires it (see docs/architecture.md)."""
    meta = yaml.safe_load(open(os.path.join(PACK_DIR, "actions", action + ".yaml")))
    return wire_runner("rerun_examples", action, meta["entry_point"],
                       os.path.join(PACK_DIR, "actions", meta["entry_point"]), context,
                       {"context": {}, "skip_notify": []}, {},
                       types.SimpleNamespace(context=rerun_of) if rerun_of is not None else None)


def test_runner_reruns_failed_branches_in_the_same_mistral_execution(mistral, mistral_client, wait_for_state):
    first = make_runner("parallel_fail", {"user": "stanley"})
    status, _, ctx1 = first.run({})
    assert status == "running"
    ex_id = ctx1["mistral"]["execution_id"]
    wait_for_state(mistral_client, ex_id, "ERROR")

    refused = make_runner("parallel_fail", {"user": "stanley", "re-run": {
        "ref": first.execution_id, "tasks": ["t1", "t3"], "reset": ["t1", "t3"]}}, rerun_of=ctx1)
    status, result, _ = refused.run({})
    assert status == "failed"
    assert result == {"error": "Cannot re-run: task 't1' is SUCCESS.", "error_type": "RerunError"}

    second = make_runner("parallel_fail", {"user": "stanley", "re-run": {
        "ref": first.execution_id, "tasks": ["t3", "t4"], "reset": ["t3", "t4"],
        "context": {"size3": 1, "size4": 1}}}, rerun_of=ctx1)
    status, result, ctx2 = second.run({})
    assert (status, result) == ("running", {})  # empty: StackStorm keeps a result pushed meanwhile
    assert ctx2["mistral"]["execution_id"] == ex_id
    wait_for_state(mistral_client, ex_id, "SUCCESS")
    env = results.execution_env(mistral_client.executions.get(ex_id).to_dict())
    assert env["st2_execution_id"] == second.execution_id
    parent = env["__actions"]["st2.action"]["st2_context"]["parent"]
    assert parent["execution_id"] == second.execution_id


def test_runner_resumes_from_next_tasks_with_published_variables(mistral, mistral_client, wait_for_state):
    first = make_runner("parallel_fail", {"user": "stanley"})
    _, _, ctx1 = first.run({})
    ex_id = ctx1["mistral"]["execution_id"]
    wait_for_state(mistral_client, ex_id, "ERROR")
    options = {"ref": first.execution_id, "tasks": ["t3", "t4"], "reset": [], "next": True,
               "published": {"t3": {"r3": "three"}}}
    status, result, _ = make_runner("parallel_fail", {"re-run": options}, rerun_of=ctx1).run({})
    assert status == "failed" and result["error_type"] == "MissingRequirementsError"
    assert "task 't4' needs r4" in result["error"]

    options["published"]["t4"] = {"r4": "four"}
    status, _, _ = make_runner("parallel_fail", {"re-run": options}, rerun_of=ctx1).run({})
    assert status == "running"
    done = wait_for_state(mistral_client, ex_id, "SUCCESS")
    assert results.json_object(done.output) == {"r3": "three", "r4": "four", "tail": "done"}
