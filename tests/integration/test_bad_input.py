"""Bad input through the real `st2` CLI and the REST API: each gets a clear error naming the problem,
and nothing is changed (no execution created or moved, no Mistral execution started)."""
from __future__ import annotations

import json
import uuid

import pytest
from mistralclient.api import client as mistral_client
from test_faults_support import api, host_factory, mistral_executions_for

pytestmark = pytest.mark.integration

UNKNOWN_ID = "5f00000000000000000000ff"


@pytest.fixture(scope="module")
def host(st2_host, mistral_server, tmp_path_factory):
    factory = host_factory(st2_host, tmp_path_factory.mktemp("badinput"))
    make = next(factory)
    yield make(mistral_server.url)
    next(factory, None)


@pytest.fixture(scope="module")
def client(mistral_server):
    return mistral_client.client(mistral_url=mistral_server.url)


def _total(host) -> int:
    return int(api(host, "GET", "/executions", params={"limit": 1}).headers["X-Total-Count"])


def _cli_error(host, *args: str) -> str:
    proc = host.st2(*args, check=False)
    assert proc.returncode != 0, (args, proc.stdout)
    return proc.stdout + proc.stderr


def _failed_steps(host, gate: str) -> str:
    """An execution of faulttest.steps failed at task `gate` (its datastore key is missing)."""
    ex_id = host.run_async("faulttest.steps", "seconds=0", "gate=%s" % gate)
    doc = host.wait(ex_id, ["failed", "succeeded"])
    assert doc["status"] == "failed", doc["result"]
    return ex_id


def test_unknown_execution_id_is_not_found_for_every_operation(host):
    before = _total(host)
    for verb in ("get", "cancel", "pause", "resume", "re-run"):
        proc = host.st2("execution", verb, UNKNOWN_ID, check=False)  # st2's cancel exits 0 on errors
        out = proc.stdout + proc.stderr
        assert UNKNOWN_ID in out and ("cannot be found" in out or "not found" in out), (verb, out)
    resp = api(host, "GET", "/executions/%s" % UNKNOWN_ID)
    assert resp.status_code == 404 and UNKNOWN_ID in resp.json()["faultstring"]
    assert _total(host) == before


def test_unknown_action_is_refused_by_cli_and_api(host):
    before = _total(host)
    assert "nope.nothing" in _cli_error(host, "run", "nope.nothing")
    resp = api(host, "POST", "/executions", json={"action": "nope.nothing"})
    assert resp.status_code == 400 and 'Action "nope.nothing" cannot be found' in resp.json()["faultstring"]
    assert _total(host) == before


@pytest.mark.parametrize("parameters, named", [
    ({}, "word"),                                        # required parameter missing
    ({"word": "x", "seconds": "many"}, "seconds"),       # wrong type
    ({"word": "x", "bogus": 1}, "bogus"),                # unknown parameter
    ({"word": ["not", "a", "string"]}, "word"),          # wrong type (array for string)
])
def test_invalid_parameters_are_refused_naming_the_parameter(host, parameters, named):
    before = _total(host)
    resp = api(host, "POST", "/executions", json={"action": "faulttest.child_then_echo", "parameters": parameters})
    assert resp.status_code == 400, resp.text
    assert named in resp.json()["faultstring"]
    assert _total(host) == before


def test_missing_required_parameter_through_the_cli(host):
    before = _total(host)
    out = _cli_error(host, "run", "faulttest.child_then_echo")
    assert "word" in out
    assert _total(host) == before


def test_malformed_workflow_yaml_fails_clearly_and_starts_nothing_in_mistral(host, client):
    ex_id = host.run_async("faulttest.broken")
    doc = host.wait(ex_id, ["failed", "succeeded"], timeout=30)  # "running" is also seen before run() returns
    assert doc["status"] == "failed"
    error = doc["result"]["error"]
    assert "broken.yaml" in error or "YAML" in error or "yaml" in error, error
    assert not mistral_executions_for(client, ex_id)
    assert "faulttest.broken" not in {w.name for w in client.workflows.list()}


@pytest.mark.parametrize("action, parameter", [
    ("faulttest.bad_param", "bogus_option"),
    ("faulttest.missing_param", "cmd"),
])
def test_st2_action_called_directly_with_bad_parameters_is_refused_at_start(host, client, action, parameter):
    ex_id = host.run_async(action)
    doc = host.wait(ex_id, ["failed", "succeeded"], timeout=30)  # "running" is also seen before run() returns
    assert doc["status"] == "failed", doc["result"]
    error = doc["result"]["error"]
    assert '"core.local"' in error and parameter in error, error
    assert not mistral_executions_for(client, ex_id)  # nothing started in Mistral
    assert not doc.get("children")
    shown = host.st2("execution", "get", ex_id, check=False).stdout
    assert parameter in shown


def test_st2_action_called_directly_with_good_parameters_runs(host):
    ex_id = host.run_async("faulttest.good_param")
    doc = host.wait(ex_id, ["failed", "succeeded"])
    assert doc["status"] == "succeeded", doc["result"]
    assert doc["result"]["out"] == "hi"


def test_rerun_of_succeeded_execution_tasks_is_refused_and_changes_nothing(host, client):
    key = "bad_gate_%s" % uuid.uuid4().hex[:8]
    host.st2("key", "set", key, "open")
    ex_id = host.run_async("faulttest.steps", "seconds=0", "gate=%s" % key)
    assert host.wait(ex_id, ["failed", "succeeded"])["status"] == "succeeded"
    mistral_id = host.get(ex_id)["context"]["mistral"]["execution_id"]
    out = host.st2("execution", "re-run", ex_id, "--tasks", "first", "--json", check=False).stdout
    new = host.wait(json.loads(out)["id"], ["failed", "succeeded", "running"])
    assert new["status"] == "failed"
    assert "first" in new["result"]["error"] and "SUCCESS" in new["result"]["error"], new["result"]
    assert host.get(ex_id)["status"] == "succeeded"
    assert client.executions.get(mistral_id).state == "SUCCESS"


def test_rerun_with_unknown_and_succeeded_tasks_names_each_offender(host, client):
    ex_id = _failed_steps(host, "bad_gate_%s" % uuid.uuid4().hex[:8])
    mistral_id = host.get(ex_id)["context"]["mistral"]["execution_id"]
    out = host.st2("execution", "re-run", ex_id, "--tasks", "first", "nope", "--json", check=False).stdout
    new = host.wait(json.loads(out)["id"], ["failed", "succeeded", "running"])
    error = new["result"]["error"]
    assert new["status"] == "failed"
    assert "'first' is SUCCESS" in error and "'nope' does not exist" in error, error
    assert host.get(ex_id)["status"] == "failed"
    tasks = {t.name: t.state for t in client.tasks.list(workflow_execution_id=mistral_id)}
    assert tasks == {"first": "SUCCESS", "gate": "ERROR"}
    assert client.executions.get(mistral_id).state == "ERROR"


def test_rerun_of_a_running_execution_names_the_running_task(host, client):
    ex_id = host.run_async("faulttest.steps", "seconds=8", "gate=never_%s" % uuid.uuid4().hex[:6])
    host.wait_task(ex_id, "first", ["RUNNING"])
    out = host.st2("execution", "re-run", ex_id, "--tasks", "first", "--json", check=False).stdout
    new = host.wait(json.loads(out)["id"], ["failed", "succeeded", "running"])
    assert new["status"] == "failed"
    assert "first" in new["result"]["error"] and "RUNNING" in new["result"]["error"], new["result"]
    assert host.get(ex_id)["status"] == "running"
    host.st2("execution", "cancel", ex_id)
    assert host.wait(ex_id, ["canceled", "failed", "succeeded"])["status"] == "canceled"


def test_no_reset_of_a_task_without_with_items_reruns_it_as_on_stackstorm(host):
    """st2client sends `--no-reset gate` as an empty reset list, which StackStorm's API leaves out
    of context["re-run"]: the runner re-runs the failed items of with-items tasks and the whole of
    any other task (as on real StackStorm 3.9; `st2-mistral rerun-check` names the difference)."""
    key = "bad_gate_%s" % uuid.uuid4().hex[:8]
    ex_id = _failed_steps(host, key)
    host.st2("key", "set", key, "open")
    out = host.st2("execution", "re-run", ex_id, "--tasks", "gate", "--no-reset", "gate", "--json",
                   check=False).stdout
    new = host.wait(json.loads(out)["id"], ["failed", "succeeded"])
    assert new["status"] == "succeeded", new["result"]
    assert "reset" not in new["context"]["re-run"]
    assert new["context"]["mistral"]["execution_id"] == host.get(ex_id)["context"]["mistral"]["execution_id"]


@pytest.mark.parametrize("verb", ["pause", "resume"])
def test_pause_or_resume_of_a_finished_execution_is_refused(host, verb):
    key = "bad_gate_%s" % uuid.uuid4().hex[:8]
    host.st2("key", "set", key, "open")
    ex_id = host.run_async("faulttest.steps", "seconds=0", "gate=%s" % key)
    assert host.wait(ex_id, ["failed", "succeeded"])["status"] == "succeeded"
    out = _cli_error(host, "execution", verb, ex_id)
    assert "succeeded" in out, out
    assert host.get(ex_id)["status"] == "succeeded"


def test_oversize_request_body_is_refused_with_413(host):
    before = _total(host)
    huge = "x" * (5 * 1024 * 1024)
    resp = api(host, "POST", "/executions",
               json={"action": "faulttest.child_then_echo", "parameters": {"word": huge}})
    assert resp.status_code == 413
    assert "too large" in resp.json()["faultstring"] and "bytes" in resp.json()["faultstring"]
    assert _total(host) == before


def test_parameters_above_mistrals_field_limit_fail_clearly_not_stuck(host, client):
    ex_id = api(host, "POST", "/executions", json={
        "action": "faulttest.child_then_echo", "parameters": {"word": "y" * (1100 * 1024)}}).json()["id"]
    doc = host.wait(ex_id, ["failed", "succeeded"])
    assert doc["status"] == "failed"
    assert "size" in doc["result"]["error"].lower() or "limit" in doc["result"]["error"].lower(), \
        doc["result"]["error"][:500]
    assert not mistral_executions_for(client, ex_id)
