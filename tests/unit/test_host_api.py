"""Unit tests of the host's REST API and container (Flask test client; a fake workflow runner)."""
from __future__ import annotations

import base64
import os
import time
from typing import Any, Dict, List

import pytest
from host_helpers import admin_headers, hosted

from mistral_v2 import seam
from mistral_v2.exceptions import MistralAPIError, MistralUnreachableError
from st2mistral_local import container as container_mod
from st2mistral_local import runners, sync
from st2mistral_local.api import PrefixMiddleware, create_app
from st2mistral_local.host import Host

WORKFLOW_PACK = {
    "pack.yaml": "ref: tp\nname: tp\n",
    "actions/wf.yaml": ("name: wf\nrunner_type: mistral-v2\nentry_point: workflows/wf.yaml\nparameters:\n"
                        "  who:\n    type: string\n    default: me\n  password:\n    type: string\n    secret: true\n"),
    "actions/workflows/wf.yaml": "version: '2.0'\ntp.wf:\n  tasks:\n    t:\n      action: std.noop\n",
}


class FakeWorkflowRunner(seam.AsyncActionRunner):
    """Stands in for mistral-v2: records how it was set up; async like the real one."""

    made: List["FakeWorkflowRunner"] = []
    fail_with: Any = None

    def __init__(self) -> None:
        super().__init__("fake")
        FakeWorkflowRunner.made.append(self)
        self.ran_with: Dict[str, Any] = {}

    def run(self, action_parameters):
        if FakeWorkflowRunner.fail_with:
            raise FakeWorkflowRunner.fail_with
        self.ran_with = action_parameters
        return "running", {}, {"mistral": {"execution_id": "wf-" + self.execution_id,
                                                       "workflow_name": "tp.wf"}}

    def pause(self):
        return "paused", self.liveaction.result, {}

    def resume(self):
        return "running", self.liveaction.result, {}

    def cancel(self):
        return "canceled", self.liveaction.result, {}


class FakeQuerier:
    """Stands in for mistral_v2.query: answers what a test put in `answers`."""

    answers: Dict[str, Any] = {}
    asked: List[Any] = []

    def query_many(self, items):
        FakeQuerier.asked.append(items)
        return {ex_id: FakeQuerier.answers[ex_id] for ex_id, _ in items if ex_id in FakeQuerier.answers}


@pytest.fixture
def host(tmp_path, monkeypatch):
    FakeWorkflowRunner.made = []
    FakeWorkflowRunner.fail_with = None
    FakeQuerier.answers, FakeQuerier.asked = {}, []
    real = runners.get_runner
    monkeypatch.setattr(container_mod, "get_runner",
                        lambda name: FakeWorkflowRunner() if name == "mistral-v2" else real(name))
    monkeypatch.setattr(sync, "_querier", lambda: FakeQuerier())
    with hosted(tmp_path, WORKFLOW_PACK) as h:
        yield h


@pytest.fixture
def auth_headers(host, client):
    return admin_headers(client, host, {"ttl": 120})


def wait_status(client, headers, ex_id, statuses, timeout=20.0):
    """The execution once in one of `statuses` (a workflow counts as running once its runner returned)."""
    deadline = time.monotonic() + timeout
    while True:
        doc = client.get("/api/v1/executions/" + ex_id, headers=headers).get_json()
        started = doc["status"] != "running" or doc["runner"]["name"] != "mistral-v2" or "mistral" in doc["context"]
        if (doc["status"] in statuses and started) or time.monotonic() > deadline:
            return doc
        time.sleep(0.05)


def run(client, headers, action, parameters=None, **extra):
    body = dict(extra, action=action, parameters=parameters or {})
    return client.post("/api/v1/executions", headers=headers, json=body)


def test_requests_without_valid_credentials_get_401_faultstring(client):
    resp = client.get("/api/v1/actions")
    assert resp.status_code == 401
    assert resp.get_json() == {"faultstring": "Unauthorized - One of Token or API key required."}
    resp = client.get("/api/v1/executions", headers={"X-Auth-Token": "bad"})
    assert resp.status_code == 401 and "Token" in resp.get_json()["faultstring"]
    bad = base64.b64encode(b"st2admin:wrong").decode()
    resp = client.post("/auth/v1/tokens", headers={"Authorization": "Basic " + bad})
    assert resp.status_code == 401 and "Invalid username or password" in resp.get_json()["faultstring"]


@pytest.mark.parametrize("path,expected", [
    ("/api/v1/actions/", "/api/v1/actions"), ("/v1/actions", "/api/v1/actions"), ("/actions", "/api/v1/actions"),
    ("/tokens", "/auth/v1/tokens"), ("/auth/tokens", "/auth/v1/tokens"), ("/auth/v1/tokens/", "/auth/v1/tokens"),
    ("/", "/"), ("/keys/a/", "/api/v1/keys/a"),
])
def test_url_styles_are_normalized(path, expected):
    assert PrefixMiddleware.normalize(path) == expected


def test_actions_and_runnertypes(client, auth_headers):
    resp = client.get("/v1/actions/?pack=tp", headers=auth_headers)
    assert resp.headers["X-Total-Count"] == "1"
    action = resp.get_json()[0]
    assert action["ref"] == "tp.wf" and "_pack_dir" not in action
    assert client.get("/api/v1/actions/" + action["id"], headers=auth_headers).get_json()["ref"] == "tp.wf"
    missing = client.get("/api/v1/actions/tp.nope", headers=auth_headers)
    assert missing.status_code == 404 and "tp.nope" in missing.get_json()["faultstring"]
    rt = client.get("/api/v1/runnertypes?name=mistral-v2", headers=auth_headers).get_json()
    assert [r["name"] for r in rt] == ["mistral-v2"] and "workflow" in rt[0]["runner_parameters"]
    assert "version" in client.get("/").get_json()


def test_local_command_runs_and_reports_stdout(client, auth_headers):
    resp = run(client, auth_headers, "core.local", {"cmd": "echo out; echo err >&2; exit 3"})
    assert resp.status_code == 201
    doc = wait_status(client, auth_headers, resp.get_json()["id"], {"failed"})
    assert doc["status"] == "failed"
    assert doc["result"] == {"stdout": "out", "stderr": "err", "return_code": 3, "succeeded": False, "failed": True}
    assert [e["status"] for e in doc["log"]] == ["requested", "scheduled", "running", "failed"]
    echo = run(client, auth_headers, "core.echo", {"message": "it's $HOME"}).get_json()
    assert wait_status(client, auth_headers, echo["id"], {"succeeded"})["result"]["stdout"] == "it's $HOME"


def test_local_command_timeout_and_cancel(client, auth_headers):
    slow = run(client, auth_headers, "core.local", {"cmd": "sleep 30", "timeout": 1}).get_json()
    doc = wait_status(client, auth_headers, slow["id"], {"timeout"})
    assert doc["status"] == "timeout" and "1 seconds" in doc["result"]["error"]
    slow = run(client, auth_headers, "core.local", {"cmd": "sleep 30"}).get_json()
    wait_status(client, auth_headers, slow["id"], {"running"})
    resp = client.delete("/api/v1/executions/" + slow["id"], headers=auth_headers)
    assert resp.status_code == 200
    assert wait_status(client, auth_headers, slow["id"], {"canceled"})["status"] == "canceled"
    again = client.delete("/api/v1/executions/" + slow["id"], headers=auth_headers)
    assert again.status_code == 400 and "a completed execution cannot be canceled" in again.get_json()["faultstring"]


def test_bad_input_is_refused_with_clear_errors_and_creates_nothing(client, auth_headers):
    before = client.get("/api/v1/executions", headers=auth_headers).headers["X-Total-Count"]
    resp = run(client, auth_headers, "core.local", {"cmd": 5, "bogus": 1})
    assert resp.status_code == 400
    msg = resp.get_json()["faultstring"]
    assert '"cmd" must be of type string' in msg and '"bogus"' in msg
    assert run(client, auth_headers, "core.nope").status_code == 400  # as StackStorm
    assert client.post("/api/v1/executions", headers=auth_headers, data="{not json",
                       content_type="application/json").status_code == 400
    resp = run(client, auth_headers, "core.noop", context={"parent": {"execution_id": "f" * 24}})
    assert resp.status_code == 400 and "does not exist" in resp.get_json()["faultstring"]
    assert client.get("/api/v1/executions", headers=auth_headers).headers["X-Total-Count"] == before
    resp = client.get("/api/v1/executions?status=bogus", headers=auth_headers)
    assert resp.status_code == 400 and "bogus" in resp.get_json()["faultstring"]


def test_workflow_runner_is_set_up_as_st2_does_and_secrets_are_masked(host, client, auth_headers):
    resp = run(client, auth_headers, "tp.wf", {"password": "hunter2", "workflow": "tp.wf"})
    doc = wait_status(client, auth_headers, resp.get_json()["id"], {"running"})
    assert doc["context"]["mistral"]["execution_id"] == "wf-" + doc["id"]
    runner = FakeWorkflowRunner.made[0]
    assert runner.entry_point == os.path.join(host.settings.pack_dirs[0], "actions", "workflows/wf.yaml")
    assert runner.runner_parameters == {"workflow": "tp.wf", "context": {}, "skip_notify": []}
    assert runner.ran_with == {"who": "me", "password": "hunter2"}
    assert runner.execution_id == runner.liveaction_id == runner.liveaction.id == doc["id"]
    assert runner.action.ref == "tp.wf" and runner.action.parameters["password"]["secret"] is True
    assert runner.context["user"] == "st2admin" and runner.rerun_ex_ref is None
    assert runner.runner_type.name == "mistral-v2"
    assert runner.action_lookup("core.local")["cmd"]["required"] is True
    assert runner.action_lookup("core.local")["timeout"]["default"] == 60
    assert runner.action_lookup("std.echo") is None
    token_user = host.auth.user_for_request({"X-Auth-Token": runner.auth_token.token}, {})
    assert token_user == "st2admin"
    assert doc["parameters"]["password"] == "********"
    assert doc["liveaction"]["parameters"]["password"] == "********"
    listed = client.get("/api/v1/executions?action=tp.wf", headers=auth_headers)
    assert b"hunter2" not in listed.data


def test_pause_resume_rules(client, auth_headers):
    ex = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf").get_json()["id"], {"running"})
    url = "/api/v1/executions/" + ex["id"]
    resume = client.put(url, headers=auth_headers, json={"status": "resuming"})
    assert resume.status_code == 200 and resume.get_json()["status"] == "running"  # StackStorm's no-op
    assert client.put(url, headers=auth_headers, json={"status": "pausing"}).get_json()["status"] == "paused"
    calls = len(FakeWorkflowRunner.made)
    pause = client.put(url, headers=auth_headers, json={"status": "pausing"})
    assert pause.status_code == 200 and pause.get_json()["status"] == "paused"
    assert len(FakeWorkflowRunner.made) == calls  # no runner call for a no-op
    assert client.put(url, headers=auth_headers, json={"status": "resuming"}).get_json()["status"] == "running"
    local = run(client, auth_headers, "core.noop").get_json()
    wait_status(client, auth_headers, local["id"], {"succeeded"})
    resp = client.put("/api/v1/executions/" + local["id"], headers=auth_headers, json={"status": "pausing"})
    assert resp.status_code == 400 and "only a running execution can be paused" in resp.get_json()["faultstring"]
    resp = client.put("/api/v1/executions/" + local["id"], headers=auth_headers, json={"status": "resuming"})
    assert resp.status_code == 400 and "only a paused or pausing execution" in resp.get_json()["faultstring"]
    shell = run(client, auth_headers, "core.local", {"cmd": "sleep 20"}).get_json()
    wait_status(client, auth_headers, shell["id"], {"running"})
    resp = client.put("/api/v1/executions/" + shell["id"], headers=auth_headers, json={"status": "pausing"})
    assert resp.status_code == 400 and "does not support pause" in resp.get_json()["faultstring"]
    client.delete("/api/v1/executions/" + shell["id"], headers=auth_headers)
    assert client.delete(url, headers=auth_headers).get_json()["status"] == "canceled"


def test_paused_parent_stays_pausing_while_a_child_workflow_is_active(host, client, auth_headers):
    parent = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf").get_json()["id"], {"running"})
    child = run(client, auth_headers, "tp.wf", context={"parent": {"execution_id": parent["id"]}}).get_json()
    wait_status(client, auth_headers, child["id"], {"running"})
    url = "/api/v1/executions/" + parent["id"]
    pushed = client.put(url, headers=auth_headers, json={"status": "paused", "result": {"tasks": []}})
    assert pushed.get_json()["status"] == "pausing"
    client.put("/api/v1/executions/" + child["id"], headers=auth_headers, json={"status": "succeeded", "result": {}})
    pushed = client.put(url, headers=auth_headers, json={"status": "paused", "result": {"tasks": []}})
    assert pushed.get_json()["status"] == "paused"


def test_child_workflow_pausing_asks_its_running_parent_to_pause(host, client, auth_headers):
    parent = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf").get_json()["id"], {"running"})
    child = run(client, auth_headers, "tp.wf", context={"parent": {"execution_id": parent["id"]}}).get_json()
    wait_status(client, auth_headers, child["id"], {"running"})
    assert client.put("/api/v1/executions/" + child["id"], headers=auth_headers,
                      json={"status": "pausing"}).get_json()["status"] == "paused"
    assert wait_status(client, auth_headers, parent["id"], {"paused"})["status"] == "paused"
    runner = FakeWorkflowRunner.made[-1]
    assert runner.st2_executions.get_execution(parent["id"])["status"] == "paused"
    assert [c["id"] for c in runner.st2_executions.list_children(parent["id"])] == [child["id"]]


def test_push_updates_and_ignores_regressions_after_completion(client, auth_headers):
    ex = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf").get_json()["id"], {"running"})
    url = "/api/v1/executions/" + ex["id"]
    done = client.put(url, headers=auth_headers, json={"status": "succeeded", "result": {"output": {"x": 1}}})
    assert done.get_json()["status"] == "succeeded" and done.get_json()["end_timestamp"]
    late = client.put(url, headers=auth_headers, json={"status": "running", "result": {"tasks": []}})
    assert late.status_code == 200
    doc = late.get_json()
    assert doc["status"] == "succeeded" and doc["result"] == {"output": {"x": 1}}


def test_late_push_of_running_after_a_pause_is_checked_against_mistral(client, auth_headers):
    ex = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf").get_json()["id"], {"running"})
    url = "/api/v1/executions/" + ex["id"]
    assert client.put(url, headers=auth_headers, json={"status": "pausing"}).get_json()["status"] == "paused"
    # A push computed before the pause reached Mistral arrives late: Mistral says PAUSED now.
    FakeQuerier.answers = {ex["id"]: ("paused", {"tasks": [], "output": None})}
    late = client.put(url, headers=auth_headers, json={"status": "running", "result": {"tasks": []}})
    assert late.get_json()["status"] == "paused"
    # So the resume that follows is not mistaken for a no-op on a running execution.
    assert client.put(url, headers=auth_headers, json={"status": "resuming"}).get_json()["status"] == "running"
    # When Mistral itself runs the workflow again, the push is believed.
    assert client.put(url, headers=auth_headers, json={"status": "pausing"}).get_json()["status"] == "paused"
    FakeQuerier.answers = {ex["id"]: ("running", {"tasks": []})}
    again = client.put(url, headers=auth_headers, json={"status": "running", "result": {"tasks": []}})
    assert again.get_json()["status"] == "running"


def test_push_is_ignored_while_an_operation_is_applied(host, client, auth_headers):
    ex = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf").get_json()["id"], {"running"})
    url = "/api/v1/executions/" + ex["id"]
    host.container._mark_busy(ex["id"], True)
    try:
        pushed = client.put(url, headers=auth_headers, json={"status": "succeeded", "result": {"output": 1}})
        assert pushed.status_code == 200 and pushed.get_json()["status"] == "running"
    finally:
        host.container._mark_busy(ex["id"], False)
    done = client.put(url, headers=auth_headers, json={"status": "succeeded", "result": {"output": 1}})
    assert done.get_json()["status"] == "succeeded"


def test_runner_error_fails_the_execution_with_message(client, auth_headers):
    FakeWorkflowRunner.fail_with = MistralAPIError("Mistral said no", 400)
    doc = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf").get_json()["id"], {"failed"})
    assert doc["result"] == {"error": "Mistral said no", "error_type": "MistralAPIError"}


def test_children_are_deduplicated_and_called_back_exactly_once(host, client, auth_headers, monkeypatch):
    calls = []

    class Handler:
        fail = True

        @classmethod
        def callback(cls, url, context, status, result):
            calls.append((url, status, result))
            if cls.fail:
                cls.fail = False
                raise MistralUnreachableError("temporarily unreachable")
            return True

    monkeypatch.setattr(sync, "_callback_handler", lambda: Handler)
    parent = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf").get_json()["id"], {"running"})
    body = {"action": "core.local", "parameters": {"cmd": "echo child"},
            "context": {"parent": {"execution_id": parent["id"]}, "mistral": {"action_execution_id": "ae-1"}},
            "callback": {"source": "mistral_v2", "url": "http://127.0.0.1:1/v2/action_executions/ae-1"}}
    first = client.post("/api/v1/executions", headers=auth_headers, json=body)
    retry = client.post("/api/v1/executions", headers=auth_headers, json=body)
    assert first.status_code == 201 and retry.status_code == 200
    assert retry.get_json()["id"] == first.get_json()["id"]
    child = wait_status(client, auth_headers, first.get_json()["id"], {"succeeded"})
    assert child["parent"] == parent["id"]
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(calls) == 1  # the first attempt failed
    host.reconciler.run_once()
    host.reconciler.run_once()
    assert len(calls) == 2 and calls[1][1] == "succeeded" and calls[1][2]["stdout"] == "child"
    client.put("/api/v1/executions/" + child["id"], headers=auth_headers, json={"status": "succeeded", "result": {}})
    host.reconciler.run_once()
    assert len(calls) == 2
    kids = client.get("/api/v1/executions/%s/children?depth=-1" % parent["id"], headers=auth_headers).get_json()
    assert [k["id"] for k in kids] == [child["id"]]
    shown = client.get("/api/v1/executions/%s" % parent["id"], headers=auth_headers).get_json()
    assert shown["children"] == [child["id"]]
    top = client.get("/api/v1/executions?parent=null&action=core.local", headers=auth_headers).get_json()
    assert child["id"] not in [d["id"] for d in top]


def test_rerun_from_tasks_and_from_start(host, client, auth_headers):
    orig = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf", {"who": "a"}).get_json()["id"],
                       {"running"})
    resp = client.post("/api/v1/executions/%s/re_run" % orig["id"], headers=auth_headers,
                       json={"parameters": {}, "tasks": ["t1", "t2"], "reset": ["t1"]})
    assert resp.status_code == 201
    new = wait_status(client, auth_headers, resp.get_json()["id"], {"running"})
    assert new["context"]["re-run"] == {"ref": orig["id"], "tasks": ["t1", "t2"], "reset": ["t1"]}
    runner = FakeWorkflowRunner.made[-1]
    assert runner.rerun_ex_ref.id == orig["id"] and runner.rerun_ex_ref.context["mistral"]
    fresh = client.post("/api/v1/executions/%s/re_run" % orig["id"], headers=auth_headers,
                        json={"parameters": {"who": "b"}}).get_json()
    assert fresh["parameters"] == {"who": "b"} and fresh["context"]["re-run"] == {"ref": orig["id"]}
    assert wait_status(client, auth_headers, fresh["id"], {"running"})["context"]["mistral"]
    bad = client.post("/api/v1/executions/%s/re_run" % orig["id"], headers=auth_headers,
                      json={"tasks": ["t1"], "reset": ["t9"]})
    assert bad.status_code == 400 and "t9" in bad.get_json()["faultstring"]


def test_restart_requeues_abandons_and_keeps_tracking(tmp_path, host, client, auth_headers):
    wf = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf").get_json()["id"], {"running"})
    local = run(client, auth_headers, "core.local", {"cmd": "sleep 30"}).get_json()
    wait_status(client, auth_headers, local["id"], {"running"})
    host.container.pool.shutdown(wait=False, cancel_futures=True)
    pending = host.container._new_doc(host.store.get_action("core.noop"), {}, {"user": "u"}, None, {}, 0)
    host.store.insert_execution(pending)
    again = Host(host.settings)
    counts = again.container.recover()
    assert counts == {"requeued": 1, "abandoned": 1, "tracked": 1, "restarted": 0}
    c2 = create_app(again).test_client()
    assert wait_status(c2, auth_headers, pending["id"], {"succeeded"})["status"] == "succeeded"
    gone = c2.get("/api/v1/executions/" + local["id"], headers=auth_headers).get_json()
    assert gone["status"] == "abandoned" and "outcome is unknown" in gone["result"]["error"]
    assert c2.get("/api/v1/executions/" + wf["id"], headers=auth_headers).get_json()["status"] == "running"
    again.stop()
    host.container._live[local["id"]].cancel()  # the "crashed" host's shell command


def test_keys_api(client, auth_headers):
    resp = client.put("/api/v1/keys/pw", headers=auth_headers, json={"name": "pw", "value": "v", "secret": True})
    assert resp.get_json()["encrypted"] is True and resp.get_json()["value"] != "v"
    assert client.get("/api/v1/keys/pw?decrypt=true", headers=auth_headers).get_json()["value"] == "v"
    assert client.get("/api/v1/keys/?prefix=p", headers=auth_headers).headers["X-Total-Count"] == "1"
    assert client.delete("/api/v1/keys/pw", headers=auth_headers).status_code == 204
    assert client.get("/api/v1/keys/pw", headers=auth_headers).status_code == 404


def test_reconciler_applies_queried_status_of_unfinished_workflows(host, client, auth_headers):
    ex = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf").get_json()["id"], {"running"})
    FakeQuerier.answers[ex["id"]] = ("succeeded", {"output": {"done": True}, "tasks": []})
    counts = host.reconciler.run_once()
    assert counts["queried"] == 1 and counts["updated"] == 1
    assert FakeQuerier.asked[-1] == [(ex["id"], {"execution_id": "wf-" + ex["id"], "workflow_name": "tp.wf"})]
    doc = client.get("/api/v1/executions/" + ex["id"], headers=auth_headers).get_json()
    assert doc["status"] == "succeeded" and doc["result"]["output"] == {"done": True}
    assert host.reconciler.run_once()["queried"] == 0


def test_callback_refused_by_mistral_is_not_retried(host, client, auth_headers, monkeypatch):
    calls = []

    class Handler:
        @classmethod
        def callback(cls, url, context, status, result):
            calls.append(url)
            raise MistralAPIError("Action execution not found", 404)

    monkeypatch.setattr(sync, "_callback_handler", lambda: Handler)
    parent = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf").get_json()["id"], {"running"})
    child = run(client, auth_headers, "core.noop", context={"parent": {"execution_id": parent["id"]}},
                callback={"source": "mistral_v2", "url": "http://127.0.0.1:1/v2/action_executions/gone"}).get_json()
    wait_status(client, auth_headers, child["id"], {"succeeded"})
    deadline = time.monotonic() + 10
    while host.store.get_execution(child["id"])["callback_state"] != "rejected" and time.monotonic() < deadline:
        time.sleep(0.05)
    host.reconciler.run_once()
    assert calls == ["http://127.0.0.1:1/v2/action_executions/gone"]
    assert host.store.get_execution(child["id"])["callback_state"] == "rejected"


def test_stopping_the_host_kills_running_shell_commands_as_abandoned(tmp_path, host, client, auth_headers):
    slow = run(client, auth_headers, "core.local", {"cmd": "sleep 60"}).get_json()
    wait_status(client, auth_headers, slow["id"], {"running"})
    host.container.shutdown()
    doc = wait_status(client, auth_headers, slow["id"], {"abandoned"})
    assert doc["status"] == "abandoned" and "host stopped" in doc["result"]["error"]


def test_delayed_execution_waits_and_can_be_canceled_before_it_starts(client, auth_headers):
    resp = run(client, auth_headers, "core.local", {"cmd": "echo never"}, delay=600000)
    assert resp.status_code == 201
    ex = resp.get_json()
    assert ex["status"] == "requested" and ex["delay"] == 600000
    canceled = client.delete("/api/v1/executions/" + ex["id"], headers=auth_headers).get_json()
    assert canceled["status"] == "canceled" and canceled["result"] == {}
    bad = run(client, auth_headers, "core.noop", delay=-1)
    assert bad.status_code == 400 and "delay" in bad.get_json()["faultstring"]


def test_credentials_inside_results_and_context_are_masked(client, auth_headers):
    ex = wait_status(client, auth_headers, run(client, auth_headers, "tp.wf").get_json()["id"], {"running"})
    url = "/api/v1/executions/" + ex["id"]
    body = {"status": "running", "result": {"tasks": [{"input": {"st2_context": {"auth_token": "t0k3n"}}}]}}
    shown = client.put(url, headers=auth_headers, json=body)
    assert b"t0k3n" not in shown.data
    assert shown.get_json()["result"]["tasks"][0]["input"]["st2_context"]["auth_token"] == "********"
