"""Host restarts mid-run, mid-pause, mid-re-run and inside the start window; a Mistral execution deleted
behind our back. State is rebuilt from storage, tracking resumes, nothing is duplicated or stuck."""
from __future__ import annotations

import json
import re
import sqlite3
import uuid

import pytest
from mistralclient.api import client as mistral_client
from result_shape import output_of
from test_faults_support import make_host, mistral_executions_for

pytestmark = pytest.mark.integration
__all__ = ["make_host"]
ID_RE = re.compile(r"\b[0-9a-f]{24}\b")


@pytest.fixture
def client(mistral_server):
    return mistral_client.client(mistral_url=mistral_server.url)


def _open_gate(host) -> str:
    key = "gate_%s" % uuid.uuid4().hex[:8]
    host.st2("key", "set", key, "open")
    return key


def _task_counts(client, mistral_id: str):
    counts = {}
    for task in client.tasks.list(workflow_execution_id=mistral_id):
        counts[task.name] = counts.get(task.name, 0) + 1
    return counts


def test_mistral_execution_deleted_behind_our_back_fails_the_execution(mistral_server, make_host, client):
    host = make_host(mistral_server.url)
    ex_id = host.run_async("faulttest.steps", "seconds=30", "gate=never")
    doc = host.wait(ex_id, ["running"], require_mistral=True)
    client.executions.delete(doc["context"]["mistral"]["execution_id"], force=True)
    doc = host.wait(ex_id, ["failed", "succeeded", "canceled"], timeout=60)
    assert doc["status"] == "failed"
    assert "no longer exists" in doc["result"]["error"], doc["result"]
    assert "no longer exists" in host.st2("execution", "get", ex_id).stdout


def test_host_restart_mid_pause_keeps_it_paused_then_resume_completes(mistral_server, make_host, client):
    host = make_host(mistral_server.url)
    gate = _open_gate(host)
    ex_id = host.run_async("faulttest.steps", "seconds=3", "gate=%s" % gate)
    host.wait_task(ex_id, "first", ["RUNNING"])
    host.st2("execution", "pause", ex_id)
    assert host.get(ex_id)["status"] in ("pausing", "paused")
    host.restart()  # down while Mistral finishes the running task and pauses
    doc = host.wait(ex_id, ["paused"], timeout=60)
    mistral_id = doc["context"]["mistral"]["execution_id"]
    assert client.executions.get(mistral_id).state == "PAUSED"
    host.restart()  # and again while paused: nothing changes
    assert host.wait(ex_id, ["paused"])["status"] == "paused"
    host.st2("execution", "resume", ex_id)
    doc = host.wait(ex_id, ["succeeded", "failed"], timeout=60)
    assert doc["status"] == "succeeded", doc["result"]
    assert output_of(doc["result"]) == {"done": "done-open"}
    assert _task_counts(client, mistral_id) == {"first": 1, "gate": 1, "after": 1, "last": 1}


def test_host_restart_mid_rerun_completes_once(mistral_server, make_host, client):
    host = make_host(mistral_server.url)
    key = "gate_%s" % uuid.uuid4().hex[:8]
    ex_id = host.run_async("faulttest.steps", "seconds=5", "gate=%s" % key)
    assert host.wait(ex_id, ["failed", "succeeded"])["status"] == "failed"
    host.st2("key", "set", key, "open")
    out = host.st2("execution", "re-run", ex_id, "--tasks", "gate", "-a").stdout
    new_id = [found for found in ID_RE.findall(out) if found != ex_id][0]
    host.wait_task(new_id, "after", ["RUNNING"])
    host.restart()  # mid re-run: the "after" task is sleeping in Mistral
    doc = host.wait(new_id, ["succeeded", "failed"], timeout=60)
    assert doc["status"] == "succeeded", doc["result"]
    assert output_of(doc["result"]) == {"done": "done-open"}
    mistral_id = doc["context"]["mistral"]["execution_id"]
    assert mistral_id == host.get(ex_id)["context"]["mistral"]["execution_id"]  # the original is re-run
    assert len(mistral_executions_for(client, ex_id)) == 1 and not mistral_executions_for(client, new_id)
    counts = _task_counts(client, mistral_id)
    assert counts["after"] == 1 and counts["last"] == 1 and counts["first"] == 1


def test_host_crash_between_mistral_start_and_recording_it_restarts_idempotently(mistral_server, make_host,
                                                                               client):
    """The window in which Mistral has the execution but the host has not stored its context yet:
    after the restart the start is retried under the same StackStorm id and finds the same Mistral
    execution (no duplicate, not abandoned)."""
    host = make_host(mistral_server.url)
    gate = _open_gate(host)
    ex_id = host.run_async("faulttest.steps", "seconds=3", "gate=%s" % gate)
    host.wait(ex_id, ["running"], require_mistral=True)
    host.stop()
    db = sqlite3.connect(str(host.state_dir / "host.sqlite"))
    data = json.loads(db.execute("SELECT data FROM executions WHERE id = ?", (ex_id,)).fetchone()[0])
    data["context"].pop("mistral")  # as if the host died right after runner.run() created it
    db.execute("UPDATE executions SET data = ? WHERE id = ?", (json.dumps(data), ex_id))
    db.commit()
    db.close()
    host.start()
    doc = host.wait(ex_id, ["succeeded", "failed", "abandoned"], timeout=60)
    assert doc["status"] == "succeeded", doc["result"]
    assert output_of(doc["result"]) == {"done": "done-%s" % "open"}
    found = mistral_executions_for(client, ex_id)
    assert len(found) == 1
    assert _task_counts(client, found[0].id) == {"first": 1, "gate": 1, "after": 1, "last": 1}
