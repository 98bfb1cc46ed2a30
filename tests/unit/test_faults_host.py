"""Host-side fault fixes, unit level: one runner operation at a time per execution, body limit (413),
pushed results masked, interrupted mistral-v2 starts retried after a restart."""
from __future__ import annotations

import threading
from typing import List

from test_host_api import FakeWorkflowRunner, auth_headers, host, run, wait_status

from st2mistral_local.host import Host

__all__ = ["auth_headers", "host"]  # fixtures (client: tests/unit/conftest.py)


def test_resume_waits_for_a_pause_still_on_its_way(host, client, auth_headers, monkeypatch):
    ex_id = run(client, auth_headers, "tp.wf").get_json()["id"]
    assert wait_status(client, auth_headers, ex_id, {"running"})["status"] == "running"
    calls: List[str] = []
    pause_entered, release = threading.Event(), threading.Event()

    def slow_pause(self):
        calls.append("pause-start")
        pause_entered.set()
        release.wait(10)
        calls.append("pause-end")
        return "paused", self.liveaction.result, {}

    def resume(self):
        calls.append("resume")
        return "running", self.liveaction.result, {}

    monkeypatch.setattr(FakeWorkflowRunner, "pause", slow_pause)
    monkeypatch.setattr(FakeWorkflowRunner, "resume", resume)
    pauser = threading.Thread(target=host.container.pause, args=(ex_id,))
    pauser.start()
    assert pause_entered.wait(10)
    resumer = threading.Thread(target=host.container.resume, args=(ex_id,))
    resumer.start()
    resumer.join(0.5)  # not a timing assertion: only gives a wrongly unserialized resume the chance to run
    assert calls == ["pause-start"]
    release.set()
    pauser.join(10)
    resumer.join(10)
    assert calls == ["pause-start", "pause-end", "resume"]
    assert host.store.get_execution(ex_id)["status"] == "running"


def test_oversize_body_is_refused_with_413_and_nothing_stored(host, client, auth_headers, monkeypatch):
    from st2mistral_local import api as api_mod

    monkeypatch.setenv("ST2MISTRAL_MAX_BODY_BYTES", "2048")
    small = api_mod.create_app(host).test_client()
    before = host.store.list_executions()[1]
    resp = small.post("/api/v1/executions", headers=auth_headers,
                      json={"action": "tp.wf", "parameters": {"who": "x" * 4096}})
    assert resp.status_code == 413
    assert "too large" in resp.get_json()["faultstring"] and "2048" in resp.get_json()["faultstring"]
    assert host.store.list_executions()[1] == before
    assert small.post("/api/v1/executions", headers=auth_headers, json={"action": "tp.wf"}).status_code == 201


def test_pushed_result_is_masked_with_the_secret_parameter_names(host, client, auth_headers):
    ex_id = run(client, auth_headers, "tp.wf", {"password": "hunter2"}).get_json()["id"]
    wait_status(client, auth_headers, ex_id, {"running"})
    host.container.update(ex_id, "running", context={"mistral": {"secret_parameters": ["password"]}})
    resp = client.put("/api/v1/executions/" + ex_id, headers=auth_headers,
                      json={"status": "succeeded", "result": {"output": {"password": "hunter2", "ok": 1}}})
    assert resp.status_code == 200
    stored = host.store.get_execution(ex_id)
    assert stored["status"] == "succeeded"
    assert stored["result"]["output"] == {"password": "********", "ok": 1}


def test_restart_retries_a_start_interrupted_inside_the_runner(host, client, auth_headers, tmp_path):
    ex_id = run(client, auth_headers, "tp.wf").get_json()["id"]
    wait_status(client, auth_headers, ex_id, {"running"})

    def drop_mistral(doc):
        doc["context"].pop("mistral", None)
        return doc

    host.store.update_execution(ex_id, drop_mistral)  # as if the host died inside runner.run()
    host.stop()
    again = Host(host.settings)
    again.register_packs()
    try:
        counts = again.container.recover()
        assert counts["restarted"] == 1 and counts["abandoned"] == 0
        again.container.pool.shutdown(wait=True)
        doc = again.store.get_execution(ex_id)
        assert doc["status"] == "running" and doc["context"]["mistral"]["execution_id"] == "wf-" + ex_id
    finally:
        again.stop()
