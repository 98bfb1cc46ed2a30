"""Unit tests of st2.action's fallback for workbook subworkflows: st2_context from the ROOT's env."""
from __future__ import annotations

import contextlib
import sys
import types
from pathlib import Path
from typing import Any, Dict, List

import pytest
from oslo_config import cfg

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "st2mistral_plugin"))

from plugin_action_stub import forget_action, import_action  # noqa: E402

from st2mistral_plugin import config, mistral_info  # noqa: E402

TOKEN = "root-token-456"
ROOT_CTX = {"api_url": "http://127.0.0.1:9/api/v1", "auth_token": TOKEN,
            "parent": {"execution_id": "st2root", "user": "alice", "source_channel": "chat"}}
ROOT_ENV = {"st2_execution_id": "st2root", "__actions": {"st2.action": {"st2_context": ROOT_CTX}}}


class FakeDB:
    """Stands in for mistral.db.v2.api: workflow executions by id."""

    def __init__(self, executions: Dict[str, Any], fail: bool = False) -> None:
        self.executions = executions
        self.fail = fail
        self.read: List[str] = []

    @contextlib.contextmanager
    def transaction(self, read_only: bool = False):
        assert read_only
        yield

    def get_workflow_execution(self, ex_id: str) -> Any:
        self.read.append(ex_id)
        if self.fail:
            raise RuntimeError("db down")
        return self.executions[ex_id]


def _wf(ex_id: str, root: Any = None, env: Any = None) -> Any:
    return types.SimpleNamespace(id=ex_id, root_execution_id=root,
                                 params={"env": env} if env is not None else {})


@pytest.fixture
def fake_db(monkeypatch):
    db = FakeDB({"root": _wf("root", env=ROOT_ENV), "sub": _wf("sub", root="root"),
                 "deep": _wf("deep", root="root"), "bare": _wf("bare", root="plain"),
                 "plain": _wf("plain", env={"x": 1})})
    for name in ("mistral", "mistral.db", "mistral.db.v2"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    api = types.ModuleType("mistral.db.v2.api")
    for attr in ("transaction", "get_workflow_execution"):
        setattr(api, attr, getattr(db, attr))
    sys.modules["mistral.db.v2"].api = api
    monkeypatch.setitem(sys.modules, "mistral.db.v2.api", api)
    return db


@pytest.mark.parametrize("env", [None, {}, {"__actions": {}}, {"__actions": {"st2.action": {}}},
                                 {"__actions": {"st2.action": {"st2_context": "x"}}}, "named-env"])
def test_st2_context_from_env_none_when_absent(env):
    assert mistral_info.st2_context_from_env(env) is None


def test_st2_context_from_env_returns_a_copy():
    found = mistral_info.st2_context_from_env(ROOT_ENV)
    assert found == ROOT_CTX and found is not ROOT_CTX


def test_root_st2_context_reads_the_root_of_a_subworkflow(fake_db):
    assert mistral_info.root_st2_context("deep") == ROOT_CTX
    assert fake_db.read == ["deep", "root"]


def test_root_st2_context_of_a_root_is_its_own(fake_db):
    # e.g. an ad-hoc action based on st2.action: Mistral gives it no __actions defaults
    assert mistral_info.root_st2_context("root") == ROOT_CTX
    assert fake_db.read == ["root"]


def test_root_st2_context_none_without_env_or_db_failure(fake_db, caplog):
    assert mistral_info.root_st2_context("plain") is None  # a root without st2_context
    assert mistral_info.root_st2_context("bare") is None   # the root has no st2_context
    assert mistral_info.root_st2_context(None) is None
    fake_db.fail = True
    assert mistral_info.root_st2_context("sub") is None
    assert "RuntimeError" in caplog.text and TOKEN not in caplog.text


@pytest.fixture
def action_mod(monkeypatch):
    """st2mistral_plugin.action with a stub mistral_lib when it is not installed (dev venv)."""
    config.register_opts(cfg.CONF)
    cfg.CONF.set_override("mistral_api_url", "http://127.0.0.1:8989/v2", group="st2")
    yield import_action(monkeypatch)
    cfg.CONF.clear_override("mistral_api_url", group="st2")
    forget_action()


def _run_in(mod, monkeypatch, wf_ex_id: str, st2_context: Any = None):
    posted: List[Dict[str, Any]] = []

    def fake_request(method: str, url: str, headers: Any = None, json_body: Any = None) -> Any:
        posted.append({"method": method, "url": url, "headers": dict(headers or {}), "body": json_body})
        return types.SimpleNamespace(status_code=201)

    monkeypatch.setattr(mod.st2_api, "request", fake_request)
    monkeypatch.setattr(mod.st2_api, "check", lambda resp, what: {"id": "child1"})
    monkeypatch.setattr(mod.mistral_info, "task_facts",
                        lambda tid: {"task_name": "subtask", "root_execution_id": "root"})
    execution = types.SimpleNamespace(workflow_execution_id=wf_ex_id, task_execution_id="t9",
                                      action_execution_id="ae9", workflow_name="wb.sub")
    action = mod.St2Action("core.local", {"cmd": "date"}, None, st2_context)
    return action.run(types.SimpleNamespace(execution=execution)), posted


def test_st2_action_in_a_subworkflow_uses_the_root_st2_context(action_mod, monkeypatch, fake_db):
    result, posted = _run_in(action_mod, monkeypatch, "sub")
    assert result is None
    (req,) = posted
    assert req["url"] == "http://127.0.0.1:9/api/v1/executions"
    assert req["headers"]["X-Auth-Token"] == TOKEN
    body = req["body"]
    assert body["context"]["parent"] == ROOT_CTX["parent"]   # the ROOT st2 execution, its user/channel
    assert body["context"]["mistral"]["workflow_execution_id"] == "sub"
    assert body["context"]["mistral"]["root_execution_id"] == "root"
    assert TOKEN not in str(body)


def test_st2_action_keeps_its_own_st2_context(action_mod, monkeypatch, fake_db):
    own = dict(ROOT_CTX, parent={"execution_id": "st2own"})
    result, posted = _run_in(action_mod, monkeypatch, "sub", st2_context=own)
    assert result is None and posted[0]["body"]["context"]["parent"] == {"execution_id": "st2own"}
    assert fake_db.read == []   # no DB read when Mistral passed the env defaults


def test_st2_action_without_any_st2_context_fails_clearly(action_mod, monkeypatch, fake_db):
    result, posted = _run_in(action_mod, monkeypatch, "bare")
    assert posted == []
    assert result.error["error_type"] == "ConfigurationError"
    assert "root workflow execution's env) has no __actions['st2.action'].st2_context" in result.error["error"]
