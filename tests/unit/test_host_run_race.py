"""Unit tests: a cancel, pause or pushed outcome arriving while the workflow runner's run() is still
executing never loses the context run() returns (the link to the Mistral execution), and run()'s
"running" never undoes the status the execution moved to meanwhile (fake runner, real host)."""
from __future__ import annotations

import threading
import time
from typing import Any, Dict, List

import pytest
from host_helpers import start_host
from pack_files import write_files

from mistral_v2 import seam
from st2mistral_local import container as container_mod
from st2mistral_local import runners

PACK = {
    "pack.yaml": "ref: tp\nname: tp\n",
    "actions/wf.yaml": "name: wf\nrunner_type: mistral-v2\nentry_point: workflows/wf.yaml\n",
    "actions/workflows/wf.yaml": "version: '2.0'\ntp.wf:\n  tasks:\n    t:\n      action: std.noop\n",
}


class BlockingRunner(seam.AsyncActionRunner):
    """mistral-v2 stand-in whose run() waits for `release` (the Mistral start still on its way)."""

    entered = threading.Event()
    release = threading.Event()
    operations: List[str] = []

    def __init__(self) -> None:
        super().__init__("blocking")

    def run(self, action_parameters: Dict[str, Any]) -> Any:
        BlockingRunner.entered.set()
        assert BlockingRunner.release.wait(20), "the test never released run()"
        return "running", {}, dict(self.context, mistral={"execution_id": "wf-" + self.execution_id})

    def cancel(self) -> Any:
        BlockingRunner.operations.append("cancel")
        return "canceled", self.liveaction.result, dict(self.liveaction.context)

    def pause(self) -> Any:
        BlockingRunner.operations.append("pause")
        return "paused", self.liveaction.result, dict(self.liveaction.context)


@pytest.fixture
def host(tmp_path, monkeypatch):
    BlockingRunner.entered, BlockingRunner.release, BlockingRunner.operations = (
        threading.Event(), threading.Event(), [])
    real = runners.get_runner
    monkeypatch.setattr(container_mod, "get_runner",
                        lambda name: BlockingRunner() if name == "mistral-v2" else real(name))
    h = start_host(tmp_path, write_files(tmp_path / "pack", PACK))
    yield h
    BlockingRunner.release.set()
    h.stop()


def _start_blocked(host) -> str:
    doc, created = host.container.create({"action": "tp.wf"}, "st2admin")
    assert created
    assert BlockingRunner.entered.wait(20), "run() never started"
    assert host.container.get(doc["id"])["status"] == "running"
    return doc["id"]


def _after_run_returned(host, ex_id: str) -> Dict[str, Any]:
    BlockingRunner.release.set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        doc = host.container.get(ex_id)
        if "mistral" in doc["context"]:
            return doc
        time.sleep(0.02)
    raise AssertionError("run()'s context was never stored: %s" % host.container.get(ex_id))


def test_cancel_completed_while_run_executes_keeps_the_mistral_link(host):
    ex_id = _start_blocked(host)
    assert host.container.cancel(ex_id)["status"] == "canceled"
    doc = _after_run_returned(host, ex_id)
    assert BlockingRunner.operations == ["cancel"]
    assert doc["status"] == "canceled"
    assert doc["context"]["mistral"] == {"execution_id": "wf-" + ex_id}
    assert [e["status"] for e in doc["log"]] == ["requested", "scheduled", "running", "canceling", "canceled"]


def test_outcome_pushed_before_run_returns_keeps_the_mistral_link(host):
    ex_id = _start_blocked(host)
    host.container.update(ex_id, "succeeded", result={"doubled": 2})  # a fast workflow's push
    doc = _after_run_returned(host, ex_id)
    assert doc["status"] == "succeeded" and doc["result"] == {"doubled": 2}
    assert doc["context"]["mistral"] == {"execution_id": "wf-" + ex_id}


def test_runs_running_does_not_undo_a_cancel_still_being_applied(host):
    ex_id = _start_blocked(host)
    host.container.update(ex_id, "canceling")  # the cancel is on its way to Mistral
    doc = _after_run_returned(host, ex_id)
    assert doc["status"] == "canceling"
    assert doc["context"]["mistral"] == {"execution_id": "wf-" + ex_id}
    assert host.container.update(ex_id, "canceled", only_from=["canceling"])[1]


def test_pause_requested_while_run_executes_is_not_undone_by_runs_running(host):
    ex_id = _start_blocked(host)
    assert host.container.pause(ex_id)["status"] == "paused"
    doc = _after_run_returned(host, ex_id)
    assert doc["status"] == "paused"
    assert doc["context"]["mistral"] == {"execution_id": "wf-" + ex_id}
    assert doc["context"]["pack"] == "tp" and doc["context"]["user"] == "st2admin"


def _running(host) -> str:
    ex_id = _start_blocked(host)
    return _after_run_returned(host, ex_id)["id"]


def test_reconcile_answer_is_dropped_when_an_operation_starts_before_it_is_stored(host, monkeypatch):
    from st2mistral_local.sync import HostExecutions

    ex_id = _running(host)
    executions = HostExecutions(host.store, host.container)
    doc = executions.unfinished_workflows()[0]
    host.container.update(ex_id, "pausing")  # a pause starts after the query answered "running"...
    answers = iter([False, True])  # ...and after record's first look, before the write
    monkeypatch.setattr(host.container, "is_busy", lambda *a, **k: next(answers, True))
    assert executions.record(doc, "running", {}) is False
    assert host.container.get(ex_id)["status"] == "pausing"


def test_update_guard_is_asked_inside_the_write(host):
    ex_id = _running(host)
    doc, changed = host.container.update(ex_id, "succeeded", result={"x": 1}, unless=lambda: True)
    assert not changed and doc["status"] == "running"
    doc, changed = host.container.update(ex_id, "succeeded", result={"x": 1}, unless=lambda: False)
    assert changed and doc["status"] == "succeeded"
