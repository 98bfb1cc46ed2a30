"""Unit tests of the st2 publisher: what it pushes for which event, and its background worker.

Mistral's DB API, context and publisher base are replaced by small in-memory stand-ins.
"""
from __future__ import annotations

import contextlib
import datetime
import importlib
import json
import sys
import threading
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List

import pytest
from oslo_config import cfg

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "st2mistral_plugin"))

TOKEN = "tok-never-pushed"
NOW = datetime.datetime(2026, 11, 24, 12, 0, 0)


class FakeDB:
    """The subset of mistral.db.v2.api the publisher reads."""

    def __init__(self) -> None:
        self.wf: Dict[str, Any] = {}
        self.tasks: List[Any] = []

    def get_workflow_execution(self, ex_id: str) -> Any:
        return self.wf[ex_id]

    def get_workflow_executions(self, root_execution_id: str) -> List[Any]:
        return [w for w in self.wf.values() if w.root_execution_id == root_execution_id]

    def get_task_executions(self, workflow_execution_id: str) -> List[Any]:
        return [t for t in self.tasks if t.workflow_execution_id == workflow_execution_id]

    @contextlib.contextmanager
    def transaction(self, read_only: bool = False):
        yield


def wf_ex(ex_id: str, state: str, st2_id: Any = "st2-1", root: Any = None, output: Any = None) -> Any:
    env = {"st2_execution_id": st2_id, "__actions": {"st2.action": {"st2_context": {
        "api_url": "http://st2/api/v1", "auth_token": TOKEN}}}} if st2_id else {}
    return SimpleNamespace(id=ex_id, workflow_name="wb.main", state=state, state_info=None,
                           input={}, output=output or {}, params={"env": env},
                           root_execution_id=root, task_execution_id=None,
                           created_at=NOW, updated_at=NOW)


def task_ex(task_id: str, wf_id: str, state: str, name: str = "t") -> Any:
    action = SimpleNamespace(id="a-" + task_id, name="st2.action", task_execution_id=task_id,
                             state="SUCCESS", state_info=None, accepted=True,
                             input={"ref": "core.local", "st2_context": {"auth_token": TOKEN}},
                             output={"result": {"stdout": "hi"}}, runtime_context={"index": 0},
                             created_at=NOW)
    return SimpleNamespace(id=task_id, name=name, type="ACTION", workflow_name="wb.main",
                           workflow_execution_id=wf_id, state=state, state_info=None,
                           runtime_context={}, published={"p": 1}, created_at=NOW,
                           updated_at=NOW, action_executions=[action])


@pytest.fixture
def db():
    return FakeDB()


@pytest.fixture
def pub(monkeypatch, db):
    """st2mistral_plugin.publisher imported against stand-in Mistral modules."""
    base = types.ModuleType("mistral.notifiers.base")
    base.NotificationPublisher = type("NotificationPublisher", (), {})
    ctx_mod = types.ModuleType("mistral.context")
    ctx_mod.set_ctx = lambda ctx: None
    api = types.ModuleType("mistral.db.v2.api")
    for name in ("get_workflow_execution", "get_workflow_executions", "get_task_executions",
                 "transaction"):
        setattr(api, name, getattr(db, name))
    mods = {"mistral": types.ModuleType("mistral"),
            "mistral.notifiers": types.ModuleType("mistral.notifiers"),
            "mistral.notifiers.base": base, "mistral.context": ctx_mod,
            "mistral.db": types.ModuleType("mistral.db"),
            "mistral.db.v2": types.ModuleType("mistral.db.v2"), "mistral.db.v2.api": api}
    mods["mistral"].context = ctx_mod
    mods["mistral.notifiers"].base = base
    mods["mistral.db"].v2 = mods["mistral.db.v2"]
    mods["mistral.db.v2"].api = api
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.delitem(sys.modules, "st2mistral_plugin.publisher", raising=False)
    module = importlib.import_module("st2mistral_plugin.publisher")
    yield module
    sys.modules.pop("st2mistral_plugin.publisher", None)


def job(pub, event: str, data: Dict[str, Any], ex_id: str = "wf1") -> Any:
    return pub.Job(ctx=None, ex_id=ex_id, data=data, event=event)


def test_root_workflow_event_pushes_status_and_result_without_secrets(pub, db):
    db.wf["wf1"] = wf_ex("wf1", "SUCCESS", output={"answer": 42})
    db.tasks.append(task_ex("t1", "wf1", "SUCCESS", name="run"))
    push = pub.plan(job(pub, "WORKFLOW_SUCCEEDED", {"id": "wf1", "root_execution_id": None}))
    assert push.st2_execution_id == "st2-1"
    assert push.body["status"] == "succeeded"
    result = push.body["result"]
    assert result["answer"] == 42  # StackStorm's shape: output keys at the top
    assert result["extra"] == {"state": "SUCCESS", "state_info": None}
    (task,) = result["tasks"]
    assert task["name"] == "run" and task["result"] == {"stdout": "hi"}
    assert task["input"] == {"ref": "core.local"}
    assert TOKEN not in json.dumps(push.body)


def test_failed_root_reports_failed(pub, db):
    db.wf["wf1"] = wf_ex("wf1", "ERROR")
    db.wf["wf1"].state_info = "task x failed"
    push = pub.plan(job(pub, "WORKFLOW_FAILED", {"id": "wf1", "root_execution_id": None}))
    assert push.body["status"] == "failed"
    assert push.body["result"]["extra"] == {"state": "ERROR", "state_info": "task x failed"}


def test_push_uses_the_result_format_the_runner_put_in_the_env(pub, db):
    db.wf["wf1"] = wf_ex("wf1", "SUCCESS", output={"answer": 42})
    db.wf["wf1"].params["env"]["st2_result_format"] = "nested"
    push = pub.plan(job(pub, "WORKFLOW_SUCCEEDED", {"id": "wf1", "root_execution_id": None}))
    assert push.body["result"] == {"output": {"answer": 42}, "tasks": []}


def test_push_lists_root_tasks_only_in_stackstorm_shape(pub, db):
    db.wf["wf1"] = wf_ex("wf1", "SUCCESS", output={"answer": 42})
    db.wf["sub1"] = wf_ex("sub1", "SUCCESS", st2_id=None, root="wf1")
    db.tasks.append(task_ex("t1", "wf1", "SUCCESS", name="call"))
    db.tasks.append(task_ex("t2", "sub1", "SUCCESS", name="inner"))
    push = pub.plan(job(pub, "WORKFLOW_SUCCEEDED", {"id": "wf1", "root_execution_id": None}))
    assert [t["name"] for t in push.body["result"]["tasks"]] == ["call"]


def test_workflow_not_started_by_stackstorm_is_ignored(pub, db):
    db.wf["wf1"] = wf_ex("wf1", "SUCCESS", st2_id=None)
    assert pub.plan(job(pub, "WORKFLOW_SUCCEEDED", {"id": "wf1", "root_execution_id": None})) is None


@pytest.mark.parametrize("root_state, task_state, expected", [
    ("RUNNING", "SUCCESS", None),
    ("PAUSED", "RUNNING", "pausing"),
    ("PAUSED", "SUCCESS", "paused"),
    ("CANCELLED", "RUNNING", "canceling"),
    ("CANCELLED", "SUCCESS", "canceled"),
])
def test_task_events_settle_paused_and_cancelled_roots(pub, db, root_state, task_state, expected):
    db.wf["wf1"] = wf_ex("wf1", root_state)
    db.wf["sub1"] = wf_ex("sub1", root_state, st2_id=None, root="wf1")
    db.tasks.append(task_ex("t1", "wf1", task_state))
    db.tasks.append(task_ex("t2", "sub1", "SUCCESS"))
    push = pub.plan(job(pub, "TASK_SUCCEEDED", {"id": "t2", "workflow_execution_id": "sub1"}, "t2"))
    assert (push.body["status"] if push else None) == expected
    if push:
        assert push.st2_execution_id == "st2-1"
        assert {t["name"] for t in push.body["result"]["tasks"]} == {"t"}
        # the root's tasks only (StackStorm's shape); the status still counts sub-workflow tasks
        assert [t["id"] for t in push.body["result"]["tasks"]] == ["t1"]


def test_subworkflow_paused_while_root_runs_asks_st2_to_pause_root(pub, db):
    db.wf["wf1"] = wf_ex("wf1", "RUNNING")
    db.wf["sub1"] = wf_ex("sub1", "PAUSED", st2_id=None, root="wf1")
    event = job(pub, "WORKFLOW_PAUSED", {"id": "sub1", "root_execution_id": "wf1"}, "sub1")
    push = pub.plan(event)
    assert push.st2_execution_id == "st2-1" and push.body == {"status": "pausing"}
    cfg.CONF.set_override("cascade_subworkflow_pause", False, group="st2")
    try:
        assert pub.plan(event) is None
    finally:
        cfg.CONF.clear_override("cascade_subworkflow_pause", group="st2")
    db.wf["wf1"].state = "PAUSED"  # Mistral already paused the root: its own event reports it
    assert pub.plan(event) is None
    other = job(pub, "WORKFLOW_SUCCEEDED", {"id": "sub1", "root_execution_id": "wf1"}, "sub1")
    assert pub.plan(other) is None


def test_worker_sends_in_order_skips_repeats_and_survives_errors(pub, monkeypatch):
    sent: List[Dict[str, Any]] = []
    plans = iter([
        pub.Push("s1", {}, {"status": "running"}),
        pub.Push("s1", {}, {"status": "running"}),          # identical: not sent again
        RuntimeError("bad event"),                           # logged, worker keeps going
        None,                                                # nothing to push
        pub.Push("s1", {}, {"status": "succeeded"}),
    ])

    def fake_plan(_job):
        item = next(plans)
        if isinstance(item, Exception):
            raise item
        return item

    monkeypatch.setattr(pub, "plan", fake_plan)
    monkeypatch.setattr(pub, "send", lambda push: sent.append(push.body) or True)
    worker = pub.Dispatcher(lanes=3)
    for _ in range(5):
        worker.submit(job(pub, "WORKFLOW_LAUNCHED", {"id": "wf1"}))
    worker.join()
    assert sent == [{"status": "running"}, {"status": "succeeded"}]


def test_publish_returns_before_the_push_is_sent(pub, monkeypatch):
    gate = threading.Event()
    sent: List[str] = []

    def slow_plan(_job):
        gate.wait(10)
        return pub.Push("s9", {}, {"status": "succeeded"})

    monkeypatch.setattr(pub, "plan", slow_plan)
    monkeypatch.setattr(pub, "send", lambda push: sent.append(push.st2_execution_id) or True)
    pub.St2Publisher().publish(None, "wf9", {"id": "wf9"}, "WORKFLOW_SUCCEEDED", NOW)
    assert sent == []  # the engine's thread is not held up by StackStorm
    gate.set()
    pub.dispatcher().join()
    assert sent == ["s9"]


def test_refused_push_is_retried_on_the_next_event(pub, monkeypatch):
    answers = iter([False, True])
    sent: List[str] = []

    def fake_send(push):
        sent.append(push.body["status"])
        return next(answers)

    monkeypatch.setattr(pub, "plan", lambda _job: pub.Push("s1", {}, {"status": "paused"}))
    monkeypatch.setattr(pub, "send", fake_send)
    worker = pub.Dispatcher(lanes=1)
    worker.submit(job(pub, "WORKFLOW_PAUSED", {}))
    worker.submit(job(pub, "WORKFLOW_PAUSED", {}))
    worker.join()
    assert sent == ["paused", "paused"]


def _ids_in_distinct_lanes(lanes: int):
    import zlib

    seen = {}
    for i in range(100):
        ex_id = "wf-%d" % i
        seen.setdefault(zlib.crc32(ex_id.encode()) % lanes, ex_id)
        if len(seen) == 2:
            return list(seen.values())
    raise AssertionError("no two ids in distinct lanes")


def test_a_stuck_root_does_not_hold_up_other_roots(pub, db, monkeypatch):
    slow_id, fast_id = _ids_in_distinct_lanes(2)
    gate = threading.Event()
    sent: List[str] = []

    def fake_plan(j):
        if j.ex_id == slow_id:
            gate.wait(10)
        return pub.Push(j.ex_id, {}, {"status": "succeeded"})

    monkeypatch.setattr(pub, "plan", fake_plan)
    monkeypatch.setattr(pub, "send", lambda push: sent.append(push.st2_execution_id) or True)
    worker = pub.Dispatcher(lanes=2)
    worker.submit(job(pub, "WORKFLOW_SUCCEEDED", {"root_execution_id": None}, slow_id))
    worker.submit(job(pub, "WORKFLOW_SUCCEEDED", {"root_execution_id": None}, fast_id))
    for _ in range(200):  # hang guard only: the fast root is sent while the slow one waits
        if sent:
            break
        threading.Event().wait(0.05)
    assert sent == [fast_id]
    gate.set()
    worker.join()
    assert sent == [fast_id, slow_id]


def test_task_events_are_routed_by_their_root(pub, db):
    db.wf["wf1"] = wf_ex("wf1", "RUNNING")
    db.wf["sub1"] = wf_ex("sub1", "RUNNING", st2_id=None, root="wf1")
    assert pub.root_key(job(pub, "TASK_SUCCEEDED", {"workflow_execution_id": "sub1"}, "t9")) == "wf1"
    assert pub.root_key(job(pub, "TASK_SUCCEEDED", {"workflow_execution_id": "wf1"}, "t8")) == "wf1"
    assert pub.root_key(job(pub, "WORKFLOW_PAUSED", {"root_execution_id": "wf1"}, "sub1")) == "wf1"
    assert pub.root_key(job(pub, "WORKFLOW_PAUSED", {"root_execution_id": None}, "wf1")) == "wf1"


def test_poll_and_push_results_both_drop_st2_context_from_action_inputs():
    """The reconciler's results (REST API records) must not carry the token either."""
    from mistral_v2 import results

    action = {"input": json.dumps({"ref": "a.b", "st2_context": {"auth_token": TOKEN}}),
              "output": json.dumps({"result": 1})}
    entry = results.task_entry({"id": "t", "name": "n"}, [action], [])
    assert entry["input"] == {"ref": "a.b"}
    assert TOKEN not in json.dumps(entry)
