"""Pause/resume/cancel end to end: local StackStorm host + real Mistral 23 + st2mistral plugin.

The parent workflow runs the StackStorm action `pause_examples.slow` through `st2.action`; the
child is a real StackStorm execution of the host, driven over its REST API like `st2 execution
pause|resume|cancel` does.
"""
from __future__ import annotations

import base64
import os
import socket
import time
from typing import Any, Dict, Iterable, List

import pytest
import requests
from oslo_config import cfg

from mistral_v2 import cascade
from mistral_v2 import config as mistral_config

pytestmark = pytest.mark.integration

PACK_DIR = os.path.join(os.path.dirname(__file__), "..", "fixtures", "packs", "pause_examples")
HANG_GUARD = 90.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def st2(mistral_server, tmp_path_factory):
    """A running local host on a free loopback port, pointed at the session's Mistral."""
    from st2mistral_local.host import HostSettings
    from st2mistral_local.server import RunningHost

    mistral_config.register_opts()
    port = _free_port()
    state = tmp_path_factory.mktemp("host-state")
    settings = HostSettings(state_dir=str(state), api_url="http://127.0.0.1:%d/api/v1" % port,
                            mistral_url=mistral_server.url, pack_dirs=[os.path.abspath(PACK_DIR)],
                            query_interval=0.5)
    running = RunningHost(settings, port=port).start()
    password = open(os.path.join(str(state), "st2admin.password")).read().strip()
    basic = base64.b64encode(("st2admin:%s" % password).encode()).decode()
    resp = requests.post(running.base_url + "/auth/v1/tokens", json={"ttl": 3600}, timeout=10,
                         headers={"Authorization": "Basic " + basic})
    assert resp.status_code == 201, resp.text
    client = St2(running.base_url + "/api/v1", resp.json()["token"], running)
    yield client
    running.stop()
    for key in ("v2_base_url", "api_url"):
        cfg.CONF.clear_override(key, "mistral")


class St2:
    """The few REST calls `st2 execution ...` makes, plus waiting."""

    def __init__(self, api: str, token: str, running: Any) -> None:
        self.api, self.running = api, running
        self.headers = {"X-Auth-Token": token}

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, self.api + path, headers=self.headers, timeout=60, **kw)

    def run(self, action: str, parameters: Dict[str, Any]) -> str:
        resp = self.call("POST", "/executions", json={"action": action, "parameters": parameters})
        assert resp.status_code in (200, 201), resp.text
        return resp.json()["id"]

    def get(self, ex_id: str) -> Dict[str, Any]:
        return self.call("GET", "/executions/" + ex_id).json()

    def children(self, ex_id: str) -> List[Dict[str, Any]]:
        return self.call("GET", "/executions", params={"parent": ex_id}).json()

    def set_status(self, ex_id: str, status: str) -> requests.Response:
        return self.call("PUT", "/executions/" + ex_id, json={"status": status})

    def wait(self, condition, what: str) -> None:
        deadline = time.monotonic() + HANG_GUARD
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail("still waiting for " + what)
            time.sleep(0.2)

    def wait_status(self, ex_id: str, wanted: Iterable[str]) -> str:
        wanted = set(wanted)
        self.wait(lambda: self.get(ex_id)["status"] in wanted, "%s in %s (is %s)" % (
            ex_id, wanted, self.get(ex_id)["status"]))
        return self.get(ex_id)["status"]


def _mistral_id(st2: St2, ex_id: str) -> str:
    st2.wait(lambda: (st2.get(ex_id).get("context") or {}).get("mistral", {}).get("execution_id"),
             "Mistral execution of " + ex_id)
    return st2.get(ex_id)["context"]["mistral"]["execution_id"]


def _tasks(client: Any, mistral_id: str) -> Dict[str, str]:
    return {t.name: t.state for t in client.tasks.list(workflow_execution_id=mistral_id)}


def _parent_with_running_child(st2: St2, client: Any):
    parent = st2.run("pause_examples.parent", {"seconds": 2})
    st2.wait(lambda: st2.children(parent), "child of " + parent)
    child = st2.children(parent)[0]["id"]
    child_mid = _mistral_id(st2, child)
    st2.wait(lambda: _tasks(client, child_mid).get("nap") == "RUNNING", "child nap RUNNING")
    return parent, child, _mistral_id(st2, parent), child_mid


def test_pause_of_child_execution_pauses_parent_and_resume_of_child_does_not(st2, mistral_client):
    parent, child, parent_mid, child_mid = _parent_with_running_child(st2, mistral_client)
    resp = st2.set_status(child, "pausing")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "pausing"
    assert st2.wait_status(child, ["paused"]) == "paused"
    assert st2.wait_status(parent, ["paused"]) == "paused"
    assert mistral_client.executions.get(parent_mid).state == "PAUSED"

    assert st2.set_status(child, "resuming").json()["status"] == "running"
    assert st2.wait_status(child, ["succeeded", "failed"]) == "succeeded"
    st2.wait(lambda: _tasks(mistral_client, parent_mid).get("run_child") == "SUCCESS", "child reported")
    # pushes of the task's intermediate states may arrive late; the host settles on "paused"
    assert st2.wait_status(parent, ["paused", "running", "succeeded"]) == "paused"
    assert mistral_client.executions.get(parent_mid).state == "PAUSED"
    assert "parent_after" not in _tasks(mistral_client, parent_mid)

    assert st2.set_status(parent, "resuming").json()["status"] == "running"
    assert st2.wait_status(parent, ["succeeded", "failed"]) == "succeeded"
    assert _tasks(mistral_client, parent_mid) == {"run_child": "SUCCESS", "parent_after": "SUCCESS"}


def test_cancel_of_parent_ends_canceled_and_later_requests_are_refused(st2, mistral_client):
    parent, child, parent_mid, _ = _parent_with_running_child(st2, mistral_client)
    resp = st2.call("DELETE", "/executions/" + parent)
    assert resp.status_code == 200 and resp.json()["status"] in ("canceling", "canceled")
    assert st2.wait_status(parent, ["canceled", "succeeded", "failed"]) == "canceled"
    assert mistral_client.executions.get(parent_mid).state == "CANCELLED"
    for resp in (st2.set_status(parent, "pausing"), st2.set_status(parent, "resuming"),
                 st2.call("DELETE", "/executions/" + parent)):
        assert resp.status_code == 400 and "canceled" in resp.json()["faultstring"]
    # the child is canceled by the host's cascade if wired, else runs to its end: never stuck
    assert st2.wait_status(child, ["canceled", "succeeded", "failed"]) in ("canceled", "succeeded")


@pytest.fixture
def wired(st2, monkeypatch):
    """The host wiring docs/architecture.md asks for: runners cascade over the StackStorm API."""
    container = st2.running.host.container
    build = container.build_runner

    def build_runner(doc, action):
        runner, extra = build(doc, action)
        if hasattr(runner, "st2_executions") and runner.st2_executions is None:
            runner.st2_executions = cascade.RestSt2Executions(st2.api, auth_token=runner.auth_token.token)
        return runner, extra

    monkeypatch.setattr(container, "build_runner", build_runner)
    return st2


def test_pause_and_resume_of_root_cascade_to_child_execution(wired, mistral_client):
    st2 = wired
    parent, child, parent_mid, child_mid = _parent_with_running_child(st2, mistral_client)
    assert st2.set_status(parent, "pausing").json()["status"] == "pausing"
    assert st2.get(child)["status"] in ("pausing", "paused")  # asked through the REST API
    assert st2.wait_status(child, ["paused"]) == "paused"
    assert st2.wait_status(parent, ["paused"]) == "paused"
    assert _tasks(mistral_client, child_mid) == {"nap": "SUCCESS"}

    assert st2.set_status(parent, "resuming").json()["status"] == "running"
    assert st2.get(child)["status"] in ("resuming", "running", "succeeded")
    assert st2.wait_status(child, ["succeeded", "failed"]) == "succeeded"
    assert st2.wait_status(parent, ["succeeded", "failed"]) == "succeeded"


def test_cancel_of_root_cascades_to_child_execution(wired, mistral_client):
    st2 = wired
    parent, child, parent_mid, child_mid = _parent_with_running_child(st2, mistral_client)
    assert st2.call("DELETE", "/executions/" + parent).json()["status"] == "canceling"
    assert st2.get(child)["status"] in ("canceling", "canceled")
    assert st2.wait_status(child, ["canceled", "succeeded", "failed"]) == "canceled"
    assert st2.wait_status(parent, ["canceled", "succeeded", "failed"]) == "canceled"
    assert _tasks(mistral_client, child_mid) == {"nap": "SUCCESS"}
    assert "parent_after" not in _tasks(mistral_client, parent_mid)
