"""Failure modes StackStorm users reported against the old Mistral runner, each on real Mistral and the host."""
from __future__ import annotations

import time

import pytest
import requests
from mistralclient.api import client as mistral_client
from result_shape import output_of
from test_faults_support import api, make_host, mistral_executions_for

pytestmark = pytest.mark.integration
__all__ = ["make_host"]


@pytest.fixture
def client(mistral_server):
    return mistral_client.client(mistral_url=mistral_server.url)


def _wait_mistral(client, mistral_id: str, states, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = client.executions.get(mistral_id).state
        if state in states:
            return state
        time.sleep(0.2)
    raise AssertionError("Mistral execution %s never reached %s (last %s)" % (mistral_id, states, state))


def _first_child(host, ex_id: str, statuses=("running",)):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = host.get(ex_id).get("children") or []
        if children and host.get(children[0])["status"] in statuses:
            return children[0]
        time.sleep(0.2)
    raise AssertionError("no %s child of %s" % (statuses, ex_id))


def test_finished_in_mistral_while_every_push_was_lost_is_not_stuck_running(mistral_server, make_host, client):
    host = make_host(mistral_server.url)
    ex_id = host.run_async("hosttest.slow", "seconds=1")  # Mistral tasks only: runs on without us
    mistral_id = host.wait(ex_id, ["running"], require_mistral=True)["context"]["mistral"]["execution_id"]
    host.stop()  # every push from now on is lost
    assert _wait_mistral(client, mistral_id, ["SUCCESS", "ERROR"]) == "SUCCESS"
    assert host.proc is None
    host.start()  # only the reconciler can know
    doc = host.wait(ex_id, ["succeeded", "failed"], timeout=60)
    assert doc["status"] == "succeeded" and output_of(doc["result"]) == {"said": "slept 1"}


def test_retried_st2_action_post_after_a_connection_error_creates_no_duplicate_child(mistral_server, make_host):
    host = make_host(mistral_server.url)
    parent = host.run_async("faulttest.steps", "seconds=20", "gate=never")
    host.wait(parent, ["running"], require_mistral=True)
    body = {"action": "core.local", "parameters": {"cmd": "echo once"},
            "context": {"parent": {"execution_id": parent},
                        "mistral": {"action_execution_id": "ae-regression-1", "task_name": "t"}},
            "callback": {"source": "mistral_v2", "url": mistral_server.url + "/action_executions/ae-regression-1"}}
    first = api(host, "POST", "/executions", json=body)
    again = api(host, "POST", "/executions", json=body)  # what the plugin does after a lost answer
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert host.get(parent)["children"] == [first.json()["id"]]
    host.st2("execution", "cancel", parent)


@pytest.mark.parametrize("how, mistral_states", [
    ("cancel", ["CANCELLED", "ERROR"]),
    ("timeout", ["ERROR"]),
    ("abandon", ["ERROR"]),
])
def test_child_ended_by_stackstorm_is_reported_so_the_workflow_ends(mistral_server, make_host, client, how,
                                                                   mistral_states):
    host = make_host(mistral_server.url)
    params = ["seconds=30", "timeout=2" if how == "timeout" else "timeout=60"]
    ex_id = host.run_async("faulttest.child_timeout", *params)
    mistral_id = host.wait(ex_id, ["running"], require_mistral=True)["context"]["mistral"]["execution_id"]
    child = _first_child(host, ex_id)
    if how == "cancel":
        host.st2("execution", "cancel", child)
    elif how == "abandon":
        host.restart()  # the host stops while the shell command runs: the child ends abandoned
    child_doc = host.wait(child, ["canceled", "timeout", "abandoned", "failed", "succeeded"], timeout=60)
    assert child_doc["status"] == {"cancel": "canceled", "timeout": "timeout", "abandon": "abandoned"}[how]
    assert _wait_mistral(client, mistral_id, ["SUCCESS", "ERROR", "CANCELLED"]) in mistral_states
    doc = host.wait(ex_id, ["failed", "canceled", "succeeded"], timeout=60)
    assert doc["status"] in ("failed", "canceled")
    task = [t for t in client.tasks.list(workflow_execution_id=mistral_id) if t.name == "child"][0]
    assert task.state in ("ERROR", "CANCELLED")


def test_workflow_outliving_the_users_token_still_creates_its_child(mistral_server, make_host, client):
    host = make_host(mistral_server.url)
    resp = requests.post(host.base_url + "/auth/v1/tokens", auth=("st2admin", host.password()), json={"ttl": 2},
                         timeout=10)
    token = resp.json()["token"]
    started = requests.post(host.base_url + "/api/v1/executions", headers={"X-Auth-Token": token}, timeout=10,
                            json={"action": "faulttest.late_child", "parameters": {"seconds": 4}})
    assert started.status_code == 201, started.text
    ex_id = started.json()["id"]
    time.sleep(2.5)
    expired = requests.get(host.base_url + "/api/v1/executions/" + ex_id, headers={"X-Auth-Token": token},
                           timeout=10)
    assert expired.status_code == 401  # the user's token is gone ...
    doc = host.wait(ex_id, ["succeeded", "failed"], timeout=60)
    assert doc["status"] == "succeeded", doc["result"]  # ... the execution's own token still works
    assert output_of(doc["result"]) == {"said": "late"}
    assert len(doc["children"]) == 1 and len(mistral_executions_for(client, ex_id)) == 1


def test_undefined_variable_fails_the_task_instead_of_hanging(mistral_server, make_host, client):
    host = make_host(mistral_server.url)
    ex_id = host.run_async("faulttest.undefined_var")
    doc = host.wait(ex_id, ["failed", "succeeded"], timeout=60)
    assert doc["status"] == "failed"
    assert "no_such_variable" in str(doc["result"]), doc["result"]
    tasks = {t["name"]: t["state"] for t in doc["result"]["tasks"]}
    assert tasks == {"t1": "ERROR"}
    assert client.executions.get(doc["context"]["mistral"]["execution_id"]).state == "ERROR"
