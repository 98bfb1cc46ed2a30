"""Unit tests of the multi-task re-run batch: the runner's planning/fallback (mistral_v2.rerun) and
the plugin's pure helpers and Workflow.rerun patch (st2mistral_plugin.rerun_batch_fix)."""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional

import pytest

from mistral_v2 import rerun

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "contrib", "st2mistral_plugin"))
from st2mistral_plugin import rerun_batch_fix as fix  # noqa: E402

PLAN = [("ex-t3", True, "t3", "ex"), ("sub-s1", True, "t2.s1", "sub"), ("ex-wi", False, "wi", "ex")]


class FakeAPI:
    """Root execution "root" whose env optionally loses the batch entry on the first re-run."""

    def __init__(self, patched: bool, env: Optional[Dict[str, Any]] = None) -> None:
        self.patched = patched
        self.env = env or {}
        self.calls: List[tuple] = []

    def get_execution(self, ex_id: str) -> Dict[str, Any]:
        return {"id": ex_id, "params": json.dumps({"env": self.env})}

    def rerun_task(self, task_id: str, reset: bool = True, env: Any = None) -> Dict[str, Any]:
        self.calls.append((task_id, reset))
        if self.patched:
            for wf_id, entry in list(self.env.get(rerun.RERUN_BATCH_KEY, {}).items()):
                if entry["primary"] == task_id:
                    self.env = fix.without_entry(self.env, wf_id)
        return {}


def test_plan_is_grouped_per_workflow_execution_and_single_tasks_get_no_entry():
    groups = rerun.group_by_workflow(PLAN)
    assert list(groups) == ["ex", "sub"]
    assert rerun.batch_env(groups, "st2-new") == {"ex": {
        "primary": "ex-t3", "for": "st2-new",
        "tasks": [{"task_execution_id": "ex-t3", "reset": True},
                  {"task_execution_id": "ex-wi", "reset": False}]}}


def test_patched_mistral_gets_one_call_per_workflow_execution():
    groups = rerun.group_by_workflow(PLAN)
    api = FakeAPI(patched=True, env={rerun.RERUN_BATCH_KEY: rerun.batch_env(groups, "new")})
    assert rerun.run_batches(api, "root", groups) == ["t3", "wi", "t2.s1"]
    assert api.calls == [("ex-t3", True), ("sub-s1", True)]


def test_unpatched_mistral_falls_back_to_one_call_per_task():
    groups = rerun.group_by_workflow(PLAN)
    api = FakeAPI(patched=False, env={rerun.RERUN_BATCH_KEY: rerun.batch_env(groups, "new")})
    assert rerun.run_batches(api, "root", groups) == ["t3", "wi", "t2.s1"]
    assert api.calls == [("ex-t3", True), ("ex-wi", False), ("sub-s1", True)]


def test_batch_key_is_reserved_for_overrides():
    with pytest.raises(rerun.RerunError, match="reserved env keys: __st2_rerun_batch"):
        rerun.check_overrides({rerun.RERUN_BATCH_KEY: {}})


# -- plugin helpers ---------------------------------------------------------------------------------


ENTRY = {"primary": "a", "for": "st2-1", "tasks": [{"task_execution_id": "a", "reset": True},
                                                    {"task_execution_id": "b", "reset": False}]}


def test_batch_entry_only_for_its_primary_task_and_its_own_rerun():
    env = {"st2_execution_id": "st2-1", fix.BATCH_KEY: {"wf": ENTRY}}
    assert fix.batch_entry(env, "wf", "a") == [{"task_execution_id": "a", "reset": True},
                                               {"task_execution_id": "b", "reset": False}]
    assert fix.batch_entry(env, "wf", "b") is None            # not the primary
    assert fix.batch_entry(env, "other", "a") is None         # another workflow execution
    assert fix.batch_entry(dict(env, st2_execution_id="st2-2"), "wf", "a") is None  # stale entry
    assert fix.batch_entry({"st2_execution_id": "st2-1"}, "wf", "a") is None
    assert fix.batch_entry({fix.BATCH_KEY: {"wf": {"primary": "a", "tasks": "bad"}}}, "wf", "a") is None


def test_primary_missing_from_its_task_list_is_still_rerun_with_reset():
    env = {fix.BATCH_KEY: {"wf": {"primary": "a", "tasks": [{"task_execution_id": "b"}]}}}
    assert fix.batch_entry(env, "wf", "a") == [{"task_execution_id": "a", "reset": True},
                                               {"task_execution_id": "b", "reset": True}]


def test_without_entry_removes_only_that_workflow_and_the_key_when_empty():
    env = {"x": 1, fix.BATCH_KEY: {"wf": ENTRY, "wf2": ENTRY}}
    assert fix.without_entry(env, "wf") == {"x": 1, fix.BATCH_KEY: {"wf2": ENTRY}}
    assert fix.without_entry(fix.without_entry(env, "wf"), "wf2") == {"x": 1}
    assert env[fix.BATCH_KEY].keys() == {"wf", "wf2"}  # input untouched


def test_switch_off_by_env_var(monkeypatch):
    monkeypatch.delenv(fix.ENV_SWITCH, raising=False)
    assert fix.enabled()
    monkeypatch.setenv(fix.ENV_SWITCH, "0")
    assert not fix.enabled()


class _Workflow:
    """Stand-in for mistral.engine.workflows.Workflow recording calls to its original rerun."""

    def __init__(self, wf_ex: Any) -> None:
        self.wf_ex = wf_ex
        self.orig_calls: List[tuple] = []

    def rerun(self, task: Any, reset: bool = True, skip: bool = False, env: Any = None) -> str:
        self.orig_calls.append((task.task_ex.id, reset, skip))
        return "orig"


class _Obj:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def test_patch_leaves_plain_reruns_skips_and_switched_off_calls_to_mistral(monkeypatch):
    fix.patch_class(_Workflow)
    assert fix.patch_class(_Workflow) is False  # idempotent
    wf_ex = _Obj(id="wf", root_execution_id=None,
                 params={"env": {"st2_execution_id": "st2-1", fix.BATCH_KEY: {"wf": ENTRY}}})
    wf = _Workflow(wf_ex)
    task_b = _Obj(task_ex=_Obj(id="b"))
    assert wf.rerun(task_b, reset=False) == "orig"             # not the primary: no batch
    assert wf.rerun(_Obj(task_ex=_Obj(id="a")), skip=True) == "orig"
    monkeypatch.setenv(fix.ENV_SWITCH, "off")
    assert wf.rerun(_Obj(task_ex=_Obj(id="a"))) == "orig"
    assert wf.orig_calls == [("b", False, False), ("a", True, True), ("a", True, False)]
    assert fix.BATCH_KEY in wf_ex.params["env"]                # nothing consumed


def test_patch_consumes_the_entry_and_runs_the_batch(monkeypatch):
    fix.patch_class(_Workflow)
    ran: List[Any] = []
    monkeypatch.setattr(fix, "_batch_rerun", lambda wf, task, items, env: ran.append(items))
    wf_ex = _Obj(id="wf", root_execution_id=None,
                 params={"env": {"st2_execution_id": "st2-1", fix.BATCH_KEY: {"wf": ENTRY}}})
    wf = _Workflow(wf_ex)
    wf.rerun(_Obj(task_ex=_Obj(id="a")))
    assert ran == [ENTRY["tasks"]] and wf.orig_calls == []
    assert wf_ex.params["env"] == {"st2_execution_id": "st2-1"}
