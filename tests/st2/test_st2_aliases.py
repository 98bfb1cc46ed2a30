"""Chatops on real StackStorm 3.9: an action alias whose action is a mistral-v2 workflow, run with
`st2 action-alias execute` and st2api's POST /aliasexecution/match_and_execute; the workflow gets
the alias parameters and the context StackStorm stores for an alias execution."""
from __future__ import annotations

import json
from typing import Any, Dict

import pytest
import requests
from result_shape import output_of

pytestmark = [pytest.mark.st2, pytest.mark.integration]


def _alias_ref(stack: Any) -> Dict[str, str]:
    """How StackStorm 3.9 stores `action_alias_ref` in an alias execution's context:
    st2common.util.reference.get_ref_from_model, {"id", "name"} (not "pack.name")."""
    alias = stack.run_cli("action-alias", "get", "st2_only.ctx")
    return {"id": alias["id"], "name": "ctx"}


def test_st2_action_alias_execute_runs_the_mistral_workflow_with_the_alias_context(st2_stack):
    (match,) = st2_stack.run_cli("action-alias", "match", "st2ctx banana times 4")
    assert match["name"] == "ctx"
    out = st2_stack.st2("action-alias", "execute", "st2ctx banana times 4").stdout
    assert "Matching Action-alias: 'st2_only.ctx'" in out, out
    ex_id = out.split("st2 execution get ")[1].split()[0]
    doc = st2_stack.wait_for_status(ex_id, ["succeeded", "failed", "canceled"], timeout=120)
    assert doc["status"] == "succeeded", json.dumps(doc["result"])[:3000]
    assert doc["action"]["ref"] == "st2_only.alias_context" and doc["runner"]["name"] == "mistral-v2"
    assert doc["parameters"] == {"word": "banana", "count": 4}
    ctx = doc["context"]  # what st2api's alias execution controller stored
    assert ctx["action_alias_ref"] == _alias_ref(st2_stack) and ctx["source_channel"] == "cli"
    assert ctx["user"] == "st2admin"
    out = output_of(doc["result"])
    # The workflow saw the same context (the runner hands it to Mistral as the children's parent).
    assert (out["alias"], out["channel"], out["user"], out["api_user"]) == (
        _alias_ref(st2_stack), "cli", "st2admin", ctx.get("api_user"))
    assert (out["word"], out["count"], out["echoed"]) == ("banana", 4, "banana x4")
    # Its core.local child (started by Mistral's st2.action) carries the alias context too.
    (child,) = [st2_stack.get(c) for c in doc["children"]]
    assert child["context"]["parent"]["action_alias_ref"] == _alias_ref(st2_stack)
    assert child["context"]["parent"]["source_channel"] == "cli"


def test_match_and_execute_api_with_a_chat_user_channel_and_default_parameter(st2_stack):
    resp = requests.post(st2_stack.api_url + "/aliasexecution/match_and_execute", headers=st2_stack.headers(),
                         json={"command": "st2ctx kiwi times", "user": "alice", "source_channel": "#ops"},
                         timeout=30)
    assert resp.status_code == 201, resp.text
    (result,) = resp.json()["results"]
    assert result["actionalias"]["ref"] == "st2_only.ctx" and result["message"] == "running kiwi"
    doc = st2_stack.wait_for_status(result["execution"]["id"], ["succeeded", "failed", "canceled"], timeout=120)
    assert doc["status"] == "succeeded", json.dumps(doc["result"])[:3000]
    assert doc["parameters"] == {"word": "kiwi", "count": 2}
    ctx = doc["context"]
    ref = _alias_ref(st2_stack)
    assert (ctx["action_alias_ref"], ctx["source_channel"], ctx["api_user"], ctx["user"]) == (
        ref, "#ops", "alice", "st2admin")
    out = output_of(doc["result"])
    assert (out["alias"], out["channel"], out["api_user"], out["user"]) == (ref, "#ops", "alice", "st2admin")
    assert out["echoed"] == "kiwi x2"


def _execution_count(stack: Any) -> int:
    resp = requests.get(stack.api_url + "/executions", params={"limit": 1}, headers=stack.headers(), timeout=30)
    resp.raise_for_status()
    return int(resp.headers["X-Total-Count"])


def test_a_command_no_alias_matches_is_refused_and_runs_nothing(st2_stack):
    before = _execution_count(st2_stack)
    resp = requests.post(st2_stack.api_url + "/aliasexecution/match_and_execute", headers=st2_stack.headers(),
                         json={"command": "nothing like it", "user": "bob", "source_channel": "cli"}, timeout=30)
    assert resp.status_code == 400 and "matched no patterns" in resp.json()["faultstring"], resp.text
    assert _execution_count(st2_stack) == before
