"""REAL StackStorm 3.9 with a Mistral that authenticates every call with it (`auth_type = st2`,
issue 17): the auth handler accepts StackStorm's tokens and API keys and nothing else; whole
workflows run through the stock `st2` CLI (StackStorm children, child workflows, pause/resume,
cancel, failure and `re-run --tasks`); the token Mistral stored is deleted once the execution ended.

Every test runs twice, once per way the runner authenticates with Mistral: with each execution's
own token (no `[mistral] api_key` for the runner; st2mistral-sync has one in its own config file),
and with `[mistral] api_key` in st2.conf (runner and st2mistral-sync both send that key).
Each variant starts its own stack (one Mistral with auth on, one st2box, one st2mistral-sync);
the session's `st2_stack` runs against a Mistral without auth."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterator, List

import pytest
import requests
from result_shape import output_either
from test_st2_compat import dump

from st2mistral_server import process, server

pytestmark = [pytest.mark.st2, pytest.mark.integration]

FINAL = ["succeeded", "failed", "canceled", "timeout", "abandoned"]


EXECUTION_TOKEN, ST2_CONF_API_KEY = "execution-token", "st2conf-api-key"


@pytest.fixture(scope="module", params=[EXECUTION_TOKEN, ST2_CONF_API_KEY])
def authed(request, tmp_path_factory) -> Iterator[Any]:
    """Mistral with `st2` auth against the box's st2api, the box, st2mistral-sync with an API key.

    st2api's port is chosen first so Mistral (started before StackStorm, which needs its URL)
    knows whom to ask. EXECUTION_TOKEN: the runner has no `[mistral] api_key` and sends the
    execution's own token; ST2_CONF_API_KEY: st2.conf's `[mistral] api_key` holds a key of its own
    (`authed.mistral_api_key`), sent by the runner and st2mistral-sync."""
    from stacks.real_st2 import StackError, running_stack

    port = process.free_port()
    mistral = server.start(mode="embedded", st2_api_url="http://127.0.0.1:%d/v1" % port)
    try:
        state = tmp_path_factory.mktemp("st2auth")
        try:
            with running_stack(mistral.url, state, api_port=port, mistral_auth=True,
                               runner_api_key=request.param == ST2_CONF_API_KEY) as stack:
                stack.mistral = mistral
                yield stack
        except StackError as exc:
            pytest.fail("real StackStorm could not be started: %s" % exc)
    finally:
        server.stop(mistral)


def mistral_get(stack: Any, path: str, **params: Any) -> Any:
    resp = requests.get(stack.mistral.url + path, headers=stack.headers(), params=params, timeout=30)
    resp.raise_for_status()
    return resp.json()


def stored_tokens(stack: Any, ex_id: str) -> List[str]:
    """Every StackStorm token Mistral holds for the workflow of `ex_id`: its env and each action
    execution's `st2_context` (the inputs of the `st2.action` calls that started the children)."""
    mistral_id = stack.get(ex_id)["context"]["mistral"]["execution_id"]
    env = json.loads(mistral_get(stack, "/executions/%s" % mistral_id)["params"]).get("env") or {}
    contexts = [((env.get("__actions") or {}).get("st2.action") or {}).get("st2_context") or {}]
    for task in mistral_get(stack, "/tasks", workflow_execution_id=mistral_id)["tasks"]:
        for action in mistral_get(stack, "/action_executions", task_execution_id=task["id"])["action_executions"]:
            full = mistral_get(stack, "/action_executions/%s" % action["id"])
            contexts.append(json.loads(full.get("input") or "{}").get("st2_context") or {})
    return [c["auth_token"] for c in contexts if c.get("auth_token")]


def wait_until(what: str, check, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError("timed out waiting for " + what)


def test_real_stackstorm_token_and_api_key_accepted_anything_else_refused(authed):
    url = authed.mistral.url + "/workflows"
    token, key = authed.env["ST2_AUTH_TOKEN"], authed.env["ST2_API_KEY"]
    assert requests.get(url, headers={"X-Auth-Token": token}, timeout=30).status_code == 200
    assert requests.get(url, headers={"St2-Api-Key": key}, timeout=30).status_code == 200
    for headers in ({}, {"X-Auth-Token": "not-a-token"}, {"St2-Api-Key": "not-a-key"},
                    {"X-Identity-Status": "Confirmed", "X-Roles": "admin"}):
        resp = requests.get(url, headers=headers, timeout=30)
        assert resp.status_code == 401, (headers, resp.status_code, resp.text[:200])


def test_workflow_with_a_stackstorm_action_completes_and_its_token_leaves_mistral(authed):
    ex_id = authed.run_async("scenarios.calls_st2", "word=hi")
    # while it runs Mistral holds the execution's own token (not the CLI's token or API key)
    held = wait_until("Mistral to hold the execution's token", lambda: "mistral" in authed.get(ex_id)["context"]
                      and stored_tokens(authed, ex_id))
    assert authed.env["ST2_AUTH_TOKEN"] not in held and authed.env["ST2_API_KEY"] not in held
    assert not authed.mistral_api_key or authed.mistral_api_key not in held
    doc = authed.wait_for_status(ex_id, FINAL, timeout=120)
    assert doc["status"] == "succeeded", dump(doc) + authed.log_tail()
    assert output_either(doc["result"])["said"].strip() == "child-hi"
    children = [authed.get(c) for c in doc.get("children") or []]
    assert [(c["action"]["ref"], c["status"]) for c in children] == [("core.local", "succeeded")]
    # the same execution through the stock CLI
    shown = authed.run_cli("execution", "get", ex_id)
    assert shown["status"] == "succeeded"
    # once StackStorm has the final status the plugin deletes every copy Mistral stored
    wait_until("the token to leave Mistral's env and st2.action inputs", lambda: stored_tokens(authed, ex_id) == [])


def test_pause_and_resume_with_the_stock_cli(authed):
    # a long nap: the pause must reach it while it runs, on a loaded machine too
    ex_id = authed.run_async("scenarios.slow", "seconds=20")
    authed.wait_for_status(ex_id, ["running"], timeout=60)
    wait_until("the Mistral execution", lambda: "mistral" in authed.get(ex_id)["context"])
    authed.st2("execution", "pause", ex_id)
    assert authed.wait_for_status(ex_id, ["paused"] + FINAL, timeout=90)["status"] == "paused"
    mistral_id = authed.get(ex_id)["context"]["mistral"]["execution_id"]
    assert mistral_get(authed, "/executions/%s" % mistral_id)["state"] == "PAUSED"
    authed.st2("execution", "resume", ex_id)
    doc = authed.wait_for_status(ex_id, FINAL, timeout=120)
    assert doc["status"] == "succeeded", dump(doc) + authed.log_tail()
    assert output_either(doc["result"]) == {"last": "slept 20"}


def test_failure_then_rerun_of_the_failed_task(authed):
    key = "authkey%s" % uuid.uuid4().hex[:8]
    ex_id = authed.run_async("scenarios.needs_key", "key=%s" % key)
    failed = authed.wait_for_status(ex_id, FINAL, timeout=120)
    assert failed["status"] == "failed", dump(failed)
    authed.st2("key", "set", key, "fixed")
    new = authed.run_cli("execution", "re-run", ex_id, "--tasks", "check")
    doc = authed.wait_for_status(new["id"], FINAL, timeout=120)
    assert doc["status"] == "succeeded", dump(doc) + authed.log_tail()
    assert output_either(doc["result"]) == {"value": "fixed", "first": "first"}
    same = authed.get(new["id"])["context"]["mistral"]["execution_id"]
    assert same == failed["context"]["mistral"]["execution_id"]   # re-run in the same Mistral execution


def test_cancel_with_the_stock_cli(authed):
    ex_id = authed.run_async("scenarios.slow", "seconds=20")
    authed.wait_for_status(ex_id, ["running"], timeout=60)
    wait_until("the Mistral execution", lambda: "mistral" in authed.get(ex_id)["context"])
    authed.st2("execution", "cancel", ex_id)
    doc = authed.wait_for_status(ex_id, FINAL, timeout=90)
    assert doc["status"] == "canceled", dump(doc) + authed.log_tail()
    mistral_id = doc["context"]["mistral"]["execution_id"]
    assert mistral_get(authed, "/executions/%s" % mistral_id)["state"] == "CANCELLED"


def test_child_workflow_pause_cascades_resume_and_parent_completes(authed):
    """Pause of the parent reaches its child StackStorm workflow (Mistral and StackStorm calls with
    the operation's token), resume too; st2mistral-sync reports the child's result to Mistral with
    its API key and the parent completes."""
    ex_id = authed.run_async("scenarios.parent", "seconds=20")   # the child still naps when paused
    child_id = wait_until("the child workflow", lambda: (authed.get(ex_id).get("children") or [None])[0], 90)
    authed.wait_for_status(child_id, ["running"], timeout=60)
    wait_until("the child's Mistral execution", lambda: "execution_id" in
               (authed.get(child_id)["context"].get("mistral") or {}))
    authed.st2("execution", "pause", ex_id)
    assert authed.wait_for_status(child_id, ["paused"] + FINAL, timeout=90)["status"] == "paused"
    assert authed.wait_for_status(ex_id, ["paused"] + FINAL, timeout=90)["status"] == "paused"
    authed.st2("execution", "resume", ex_id)
    doc = authed.wait_for_status(ex_id, FINAL, timeout=180)
    assert doc["status"] == "succeeded", dump(doc) + authed.log_tail()
    assert authed.get(child_id)["status"] == "succeeded"


def test_stackstorm_keeps_the_execution_token_valid_after_the_workflow_completed(authed):
    """StackStorm 3.9's runner container deletes the token it made for an async runner's run() only
    when run() itself returns a completed status, and nothing in StackStorm's REST API can delete
    a token: once the workflow completed (and the plugin deleted Mistral's copies) StackStorm still
    accepts it, until `[auth] service_token_ttl` (docs/reliability.md, Known limitations)."""
    # a workflow that runs a few seconds, so the token is seen in Mistral's env before the plugin
    # deletes it at completion (a quick one could finish between two looks on a quiet machine)
    ex_id = authed.run_async("scenarios.slow", "seconds=6")
    held = wait_until("Mistral to hold the execution's token", lambda: "mistral" in authed.get(ex_id)["context"]
                      and stored_tokens(authed, ex_id))
    doc = authed.wait_for_status(ex_id, FINAL, timeout=120)
    assert doc["status"] == "succeeded", dump(doc) + authed.log_tail()
    wait_until("the token to leave Mistral", lambda: stored_tokens(authed, ex_id) == [])
    for token in set(held):
        still = requests.get(authed.api_url + "/executions", headers={"X-Auth-Token": token},
                             params={"limit": 1, "include_attributes": "id"}, timeout=30)
        assert still.status_code == 200, still.text[:200]


@pytest.mark.parametrize("authed", [ST2_CONF_API_KEY], indirect=True)
def test_the_runner_calls_mistral_with_the_st2_conf_api_key(authed):
    """With `[mistral] api_key` in st2.conf the runner authenticates to Mistral with that key (not
    the execution's token): with the key deleted from StackStorm a new workflow fails at start with
    Mistral's 401 (once Mistral's `[st2] auth_cache_ttl` of the key ran out); with it back, it runs.
    st2mistral-sync's own config file has no `[mistral]` key here: it reports children to Mistral
    (the other tests of this variant) with st2.conf's."""
    assert "[mistral]" not in authed.sync.conf.read_text()

    def run_wf() -> Any:
        ex_id = authed.run_async("scenarios.wf", "who=key")
        return authed.wait_for_status(ex_id, FINAL, timeout=120)

    gone = requests.delete("%s/apikeys/%s" % (authed.api_url, authed.mistral_api_key_id),
                           headers=authed.headers(), timeout=30)
    assert gone.status_code == 204, gone.text[:200]
    try:
        refused = wait_until("a run refused by Mistral", lambda: (lambda d: d if d["status"] == "failed" else None)(
            run_wf()), timeout=120)
        assert "HTTP 401" in refused["result"]["error"], dump(refused)
    finally:
        authed.mistral_api_key_id = authed.register_api_key(authed.mistral_api_key)
    doc = wait_until("a run accepted again", lambda: (lambda d: d if d["status"] == "succeeded" else None)(
        run_wf()), timeout=120)
    assert output_either(doc["result"]) == {"greeting": "Hello, key!"}
