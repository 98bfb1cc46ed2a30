"""Unit tests: re_run bodies -> context["re-run"] (host), st2.action child re-run hints -> the old
child (runner, through the StackStorm API), and the plugin's st2.action forwarding a hint only for
its own task and re-run."""
from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from plugin_action_stub import forget_action, import_action

from mistral_v2.exceptions import InvalidParametersError, RerunError
from mistral_v2.rerun import child_rerun_options
from st2mistral_local.rerun_request import rerun_options

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "st2mistral_plugin"))


# ---- POST /executions/<id>/re_run ---------------------------------------------------------------

def test_st2client_body_maps_to_tasks_and_reset():
    # st2client 3.9 sends reset = tasks - --no-reset, parameters {} and delay
    body = {"parameters": {}, "tasks": ["t3", "t4"], "reset": ["t4", "t3"], "delay": 0}
    assert rerun_options("x1", body, True) == {"ref": "x1", "tasks": ["t3", "t4"], "reset": ["t4", "t3"]}
    no_reset = rerun_options("x1", {"parameters": {}, "tasks": ["t"], "reset": []}, True)
    assert no_reset == {"ref": "x1", "tasks": ["t"]}  # StackStorm's API leaves an empty reset out


def test_body_without_reset_carries_none_as_stackstorm_and_our_extra_fields_pass_through():
    assert rerun_options("x", {"tasks": ["a", "b"]}, True) == {"ref": "x", "tasks": ["a", "b"]}
    opts = rerun_options("x", {"tasks": ["a", "b"], "no_reset": ["b"], "context": {"size": 2}}, True)
    assert opts == {"ref": "x", "tasks": ["a", "b"], "no_reset": ["b"], "context": {"size": 2}}
    nxt = rerun_options("x", {"tasks": ["a"], "reset": [], "next": True, "published": {"a": {"v": 1}}}, True)
    assert nxt == {"ref": "x", "tasks": ["a"], "next": True, "published": {"a": {"v": 1}}}


def test_without_tasks_it_is_a_fresh_run_and_parameters_may_change():
    assert rerun_options("x", {"parameters": {"who": "b"}, "tasks": [], "reset": []}, False) == {"ref": "x"}
    assert rerun_options("x", {}, True) == {"ref": "x"}


@pytest.mark.parametrize("body, workflow, message", [
    ({"tasks": ["t"], "parameters": {"a": 1}}, True, "Parameters override is not supported"),
    ({"tasks": ["t"], "reset": ["t", "u"]}, True, "u not in t"),
    ({"tasks": ["t"], "no_reset": ["u"]}, True, "u not in t"),
    ({"tasks": ["t"]}, False, "not a workflow execution"),
    ({"reset": ["t"]}, True, "no tasks to re-run were given"),
    ({"context": {"a": 1}}, True, '"context" applies only when re-running tasks'),
    ({"tasks": "t"}, True, '"tasks" must be a list of task names'),
    ({"tasks": ["t", ""]}, True, '"tasks" must be a list of task names'),
    ({"tasks": ["t"], "context": [1]}, True, '"context" must be an object'),
    ({"tasks": ["t"], "next": True, "published": {"t": 1}}, True, '"published" must map task name'),
    ({"parameters": [1]}, True, '"parameters" must be an object'),
])
def test_refused_at_request_time_with_the_reason(body, workflow, message):
    with pytest.raises(InvalidParametersError) as err:
        rerun_options("x", body, workflow)
    assert message in str(err.value)


# ---- st2.action's child re-run hint -> the old child --------------------------------------------

EXECUTIONS: Dict[str, Dict[str, Any]] = {
    "p2": {"id": "p2", "context": {"re-run": {"ref": "p1", "tasks": ["call.sub"]}}},
    "p3": {"id": "p3", "context": {}},
}
CHILDREN: Dict[str, List[Dict[str, Any]]] = {
    "p1": [
        {"id": "other", "action": {"ref": "pk.child"}, "context": {"mistral": {"action_execution_id": "ae0"}}},
        {"id": "c1", "action": {"ref": "pk.child"}, "context": {"mistral": {"action_execution_id": "ae1"}}},
        {"id": "c-url", "action": {"ref": "pk.other"}, "context": {},
         "callback": {"url": "http://m/v2/action_executions/ae9"}},
    ],
}


def _child(hint: Dict[str, Any], ref: str = "pk.child", parent: Optional[str] = "p2") -> Dict[str, Any]:
    return child_rerun_options(hint, ref, parent, EXECUTIONS.get, lambda pid: CHILDREN.get(pid, []))


HINT = {"tasks": ["sub"], "reset": ["sub"], "mistral": {"action_execution_id": "ae1", "execution_id": "m1"}}


def test_hint_finds_the_old_child_of_the_original_parent():
    assert _child(HINT) == {"ref": "c1", "tasks": ["sub"], "reset": ["sub"]}
    with_ctx = _child(dict(HINT, reset=[], context={"size": 1}))
    assert with_ctx == {"ref": "c1", "tasks": ["sub"], "reset": [], "context": {"size": 1}}
    assert _child(dict(HINT, reset=None))["reset"] == ["sub"]


def test_old_child_is_also_found_by_its_callback_url():
    hint = dict(HINT, mistral={"action_execution_id": "ae9"})
    assert _child(hint, ref="pk.other")["ref"] == "c-url"


@pytest.mark.parametrize("hint, ref, parent, message", [
    (dict(HINT, mistral={"action_execution_id": "nope"}), "pk.child", "p2", "has no child started by Mistral"),
    (HINT, "pk.else", "p2", "it ran pk.child, not pk.else"),
    (HINT, "pk.child", "p3", "the parent execution p3 is not a re-run"),
    (HINT, "pk.child", None, "is not a re-run"),
    (dict(HINT, mistral={}), "pk.child", "p2", '"mistral.action_execution_id"'),
    (dict(HINT, tasks=[]), "pk.child", "p2", 'needs "tasks"'),
])
def test_hint_refusals_name_the_problem(hint, ref, parent, message):
    with pytest.raises(RerunError) as err:
        _child(hint, ref, parent)
    assert message in str(err.value)


# ---- the plugin's st2.action ---------------------------------------------------------------------

@pytest.fixture
def action_mod(monkeypatch):
    """st2mistral_plugin.action with mistral_lib stubbed when it is not installed (dev venv)."""
    yield import_action(monkeypatch)
    forget_action()


def _st2_context(parent_execution_id: Optional[str] = "new") -> Dict[str, Any]:
    hint = {"action_execution_id": "ae-old", "mistral_execution_id": "m-child", "tasks": ["sub", "x.y"],
            "reset": ["sub"], "context": {"k": 1}}
    if parent_execution_id:
        hint["parent_execution_id"] = parent_execution_id
    return {"parent": {"execution_id": "new"}, "rerun_children": {"task-1": hint}}


def _execution(task_id: str = "task-1") -> Any:
    return types.SimpleNamespace(workflow_execution_id="wf", task_execution_id=task_id,
                                 action_execution_id="ae-new", workflow_name="pk.parent")


def test_st2_action_forwards_the_hint_of_its_task_as_the_child_re_run(action_mod):
    body = action_mod.build_request("pk.child", {}, None, _st2_context(), _execution(), {}, "http://m/v2")
    assert body["context"]["re-run"] == {
        "tasks": ["sub", "x.y"], "reset": ["sub"], "context": {"k": 1},
        "mistral": {"action_execution_id": "ae-old", "execution_id": "m-child"}}
    assert body["context"]["mistral"]["action_execution_id"] == "ae-new"
    assert body["callback"]["url"] == "http://m/v2/action_executions/ae-new"
    unbound = action_mod.build_request("pk.child", {}, None, _st2_context(None), _execution(), {}, "http://m/v2")
    assert unbound["context"]["re-run"]["tasks"] == ["sub", "x.y"]


@pytest.mark.parametrize("st2_context, task_id", [
    (_st2_context("an-earlier-rerun"), "task-1"),   # stale hint left in the env by another re-run
    (_st2_context(), "task-2"),                     # a different task
    ({"parent": {"execution_id": "new"}}, "task-1"),  # no hint at all
    ({"parent": {"execution_id": "new"}, "rerun_children": {"task-1": {"tasks": []}}}, "task-1"),
])
def test_st2_action_starts_a_fresh_child_otherwise(action_mod, st2_context, task_id):
    body = action_mod.build_request("pk.child", {}, None, st2_context, _execution(task_id), {}, "http://m/v2")
    assert "re-run" not in body["context"]
