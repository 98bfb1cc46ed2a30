"""Re-run, resume and inbound context against a real Mistral 23 server (rerun_examples pack)."""
from __future__ import annotations

import json
import os
import uuid
from typing import Any, Dict, List

import pytest
import yaml

from mistral_v2 import cascade, config, definitions, inbound_context, rerun, results, resume_from_next, task_paths
from mistral_v2.exceptions import MissingRequirementsError, RerunError
from mistral_v2.mistral_api import MistralAPI

pytestmark = pytest.mark.integration

PACK = os.path.join(os.path.dirname(__file__), "..", "fixtures", "packs", "rerun_examples")
WORKFLOWS = ["parallel_fail", "nested", "with_items_fail", "pause_paths", "long_running", "sequential_ok",
             "parent_of_child"]
ST2_ENV = {"st2_execution_id": "new-st2-id", "st2_liveaction_id": "new-st2-id",
           "st2_action_api_url": "http://127.0.0.1:9/api/v1",
           "__actions": {"st2.action": {"st2_context": {"api_url": "http://127.0.0.1:9/api/v1",
                                                        "auth_token": "s3cr3t-token"}}}}


def _prepared_text(name: str) -> definitions.PreparedDefinition:
    path = os.path.join(PACK, "actions", "workflows", name + ".yaml")
    meta = yaml.safe_load(open(os.path.join(PACK, "actions", name + ".yaml")))
    workflow_param = ((meta.get("parameters") or {}).get("workflow") or {}).get("default")
    return definitions.prepare(path, "rerun_examples." + name, workflow_param)   # adds the resume hooks


@pytest.fixture(scope="module")
def api(mistral_server) -> MistralAPI:
    return MistralAPI(url=mistral_server.url, conf=config.get())


@pytest.fixture(scope="module")
def workflows(api) -> Dict[str, str]:
    """Upload every rerun_examples definition (with the resume hooks); name -> workflow to start."""
    out = {}
    for name in WORKFLOWS:
        p = _prepared_text(name)
        if p.kind == "workbook":
            try:
                api.create_workbook(p.text)
            except Exception:
                api.update_workbook(p.text)
        else:
            try:
                api.create_workflow(p.text)
            except Exception:
                api.update_workflow(p.text)
        out[name] = p.workflow_name
    return out


def _start(api: MistralAPI, workflows: Dict[str, str], name: str, env: Dict[str, Any]) -> str:
    ex = api.create_execution(workflows[name], {}, "rerun-test-%s" % uuid.uuid4().hex, env=env)
    return ex["id"]


def _ctx(ex_id: str) -> Dict[str, Any]:
    return {"mistral": {"execution_id": ex_id}}


def _tasks(api: MistralAPI, ex_id: str) -> Dict[str, Dict[str, Any]]:
    return task_paths.latest_tasks(api.list_tasks(ex_id))


def _state_map(api: MistralAPI, ex_id: str) -> Dict[str, str]:
    return {n: t["state"] for n, t in _tasks(api, ex_id).items()}


def _output(api: MistralAPI, ex_id: str) -> Dict[str, Any]:
    return results.json_object(api.get_execution(ex_id).get("output"))


# -- re-run ------------------------------------------------------------------------------------------


def test_parallel_branches_fixed_and_rerun_succeed_in_same_execution(api, workflows, mistral_client,
                                                                   wait_for_state):
    ex_id = _start(api, workflows, "parallel_fail", {"keep": "me"})
    wait_for_state(mistral_client, ex_id, "ERROR")
    assert _state_map(api, ex_id) == {"t1": "SUCCESS", "t3": "ERROR", "t4": "ERROR"}

    # The fix: variables the failed tasks read through env() (changed inbound context).
    returned = rerun.rerun_tasks(api, _ctx(ex_id), ["t3", "t4"], env=ST2_ENV,
                                 overrides={"size3": 1, "size4": 2})
    assert returned["id"] == ex_id
    done = wait_for_state(mistral_client, ex_id, "SUCCESS")
    assert done.id == ex_id
    assert set(_state_map(api, ex_id).values()) == {"SUCCESS"}
    assert _output(api, ex_id) == {"r3": {"a0": "hello"}, "r4": {"b0": "x", "b1": "x"}, "tail": "done"}
    env = results.execution_env(api.get_execution(ex_id))
    assert env["st2_execution_id"] == "new-st2-id"      # results/callbacks go to the new execution
    assert env["keep"] == "me" and env["size3"] == 1


def test_nested_workbook_subtask_rerun(api, workflows, mistral_client, wait_for_state):
    ex_id = _start(api, workflows, "nested", {})
    wait_for_state(mistral_client, ex_id, "ERROR")
    with pytest.raises(RerunError) as err:
        rerun.rerun_tasks(api, _ctx(ex_id), ["task1.nope"])
    assert "task 'task1.nope' does not exist (tasks in task1: subtask1)" in str(err.value)

    rerun.rerun_tasks(api, _ctx(ex_id), ["task1.subtask1"], env=ST2_ENV, overrides={"sub_size": 1})
    wait_for_state(mistral_client, ex_id, "SUCCESS")
    assert _state_map(api, ex_id) == {"task1": "SUCCESS", "task2": "SUCCESS"}
    assert _output(api, ex_id) == {"sub_out": {"s0": "v"}}


def _item_runs(api: MistralAPI, task_id: str) -> List[Dict[str, Any]]:
    return api.list_task_action_executions(task_id)


def _with_items_rerun(api, workflows, mistral_client, wait_for_state, no_reset: bool) -> int:
    ex_id = _start(api, workflows, "with_items_fail", {"bad": [1, 3]})
    wait_for_state(mistral_client, ex_id, "ERROR")
    task_id = _tasks(api, ex_id)["task1"]["id"]
    before = {a["id"] for a in _item_runs(api, task_id)}
    assert len(before) == 5
    rerun.rerun_tasks(api, _ctx(ex_id), ["task1"], env=ST2_ENV, overrides={"bad": []},
                      no_reset=["task1"] if no_reset else None)
    wait_for_state(mistral_client, ex_id, "SUCCESS")
    new = [a for a in _item_runs(api, task_id) if a["id"] not in before]
    assert _output(api, ex_id)["results"] == [{"item%d_0" % i: i} for i in range(5)]
    return len(new)


def test_with_items_rerun_with_reset_runs_all_five_items(api, workflows, mistral_client, wait_for_state):
    assert _with_items_rerun(api, workflows, mistral_client, wait_for_state, no_reset=False) == 5


def test_with_items_rerun_no_reset_runs_only_the_two_failed_items(api, workflows, mistral_client,
                                                                  wait_for_state):
    assert _with_items_rerun(api, workflows, mistral_client, wait_for_state, no_reset=True) == 2


def test_dotted_name_descends_into_a_child_stackstorm_workflow(api, workflows, mistral_client, wait_for_state):
    child_id = _start(api, workflows, "parallel_fail", dict(ST2_ENV, st2_execution_id="child-st2"))
    parent_id = _start(api, workflows, "parent_of_child", {})
    wait_for_state(mistral_client, child_id, "ERROR")
    wait_for_state(mistral_client, parent_id, "ERROR")
    call_child = _tasks(api, parent_id)["call_child"]
    (old_call,) = api.list_task_action_executions(call_child["id"])
    children = {old_call["id"]: child_id}       # what the host answers for the st2.action call
    seen: List[str] = []

    def resolve_st2_child(action_execution_id: str):
        seen.append(action_execution_id)
        return children.get(action_execution_id)

    with pytest.raises(RerunError) as err:
        rerun.rerun_tasks(api, _ctx(parent_id), ["call_child.t1", "call_child.zz"], env=ST2_ENV,
                          resolve_st2_child=resolve_st2_child)
    assert str(err.value) == ("Cannot re-run: task 'call_child.t1' is SUCCESS, task 'call_child.zz' does "
                              "not exist (tasks in call_child: t1, t3, t4).")
    assert seen == [old_call["id"], old_call["id"]]

    rerun.rerun_tasks(api, _ctx(parent_id), ["call_child.t3", "call_child.t4"], env=ST2_ENV,
                      no_reset=[], overrides={"child_ok": 1}, resolve_st2_child=resolve_st2_child)
    wait_for_state(mistral_client, parent_id, "SUCCESS")
    assert _state_map(api, parent_id) == {"call_child": "SUCCESS", "after": "SUCCESS"}
    # st2.action is told which child to re-run (and which tasks) instead of starting afresh.
    st2_ctx = results.execution_env(api.get_execution(parent_id))["__actions"]["st2.action"]["st2_context"]
    assert st2_ctx[rerun.RERUN_CHILDREN_KEY] == {call_child["id"]: {
        "action_execution_id": old_call["id"], "mistral_execution_id": child_id,
        "tasks": ["t3", "t4"], "reset": ["t3", "t4"], "context": {"child_ok": 1},
        "parent_execution_id": ST2_ENV.get("st2_execution_id")}}
    # The child tree itself is left to that re-run: untouched here.
    child = api.get_execution(child_id)
    assert child["state"] == "ERROR" and results.execution_env(child)["st2_execution_id"] == "child-st2"


# -- refusals ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def failed_parallel(api, workflows, mistral_server):
    from mistralclient.api import client as mc

    from st2mistral_server.waiting import wait_for_state

    ex_id = _start(api, workflows, "parallel_fail", {})
    wait_for_state(mc.client(mistral_url=mistral_server.url), ex_id, "ERROR")
    return ex_id


def _refusal(api, ex_id, tasks, **kw) -> RerunError:
    before = (api.get_execution(ex_id), _state_map(api, ex_id))
    with pytest.raises(RerunError) as err:
        rerun.rerun_tasks(api, _ctx(ex_id), tasks, env=ST2_ENV, **kw)
    after = (api.get_execution(ex_id), _state_map(api, ex_id))
    assert after[0]["state"] == before[0]["state"] and after[1] == before[1]
    assert after[0].get("params") == before[0].get("params")   # env untouched: nothing changed
    return err.value


def test_refuses_succeeded_and_unknown_tasks_in_one_error(api, failed_parallel):
    err = _refusal(api, failed_parallel, ["t1", "t3", "nope"])
    assert str(err) == ("Cannot re-run: task 't1' is SUCCESS, task 'nope' does not exist "
                        "(tasks at this level: t1, t3, t4).")
    assert err.offenders == {"t1": "SUCCESS", "nope": "does not exist"}


def test_refuses_no_reset_of_task_not_in_tasks(api, failed_parallel):
    err = _refusal(api, failed_parallel, ["t3"], no_reset=["t4"])
    assert str(err) == "Cannot re-run: --no-reset/reset names task 't4' not in --tasks (t3)."


def test_refuses_no_reset_of_non_with_items_task(api, failed_parallel):
    err = _refusal(api, failed_parallel, ["t3", "t4"], no_reset=["t4"])
    assert str(err) == ("Cannot re-run: --no-reset applies only to with-items tasks; "
                        "task 't4' is not a with-items task.")


def test_refuses_rerun_of_succeeded_execution(api, workflows, mistral_client, wait_for_state):
    ex_id = _start(api, workflows, "sequential_ok", {})
    wait_for_state(mistral_client, ex_id, "SUCCESS")
    err = _refusal(api, ex_id, ["b"])
    assert str(err) == ("Cannot re-run: workflow execution %s is SUCCESS, not ERROR, "
                        "task 'b' is SUCCESS." % ex_id)


def test_refuses_rerun_of_running_execution_and_running_task(api, workflows, mistral_client,
                                                             wait_for_state):
    ex_id = _start(api, workflows, "long_running", {})
    try:
        wait_for_state(mistral_client, ex_id, "RUNNING")
        for _ in range(100):
            if _state_map(api, ex_id).get("wait") == "RUNNING":
                break
            import time
            time.sleep(0.1)
        err = _refusal(api, ex_id, ["wait"])
        assert str(err) == ("Cannot re-run: workflow execution %s is RUNNING, not ERROR, "
                            "task 'wait' is RUNNING." % ex_id)
    finally:
        api.update_execution(ex_id, "CANCELLED")


# -- pause / resume ----------------------------------------------------------------------------------------


def test_resume_from_pause_transitions_and_pause_before(api, workflows, mistral_client, wait_for_state):
    ex_id = _start(api, workflows, "pause_paths", {"size": 1})
    wait_for_state(mistral_client, ex_id, "PAUSED")        # on-complete: pause after `work`
    assert _state_map(api, ex_id)["work"] == "SUCCESS"
    cascade.apply_to_tree(api, ex_id, cascade.RESUME)
    wait_for_state(mistral_client, ex_id, ["PAUSED", "SUCCESS"])
    assert api.get_execution(ex_id)["state"] == "PAUSED"   # pause-before: true on `last`
    assert "last" not in _state_map(api, ex_id) or _state_map(api, ex_id)["last"] != "SUCCESS"
    cascade.apply_to_tree(api, ex_id, cascade.RESUME)
    wait_for_state(mistral_client, ex_id, "SUCCESS")
    assert _state_map(api, ex_id)["last"] == "SUCCESS"


def test_pause_on_error_refuses_rerun_and_resumes(api, workflows, mistral_client, wait_for_state):
    ex_id = _start(api, workflows, "pause_paths", {})
    wait_for_state(mistral_client, ex_id, "PAUSED")        # on-error: [pause]
    assert _state_map(api, ex_id) == {"check": "ERROR"}
    err = _refusal(api, ex_id, ["check"])
    assert "is PAUSED, not ERROR (Mistral ignores task re-runs of a paused workflow" in str(err)
    cascade.apply_to_tree(api, ex_id, cascade.RESUME)
    # Mistral 23: the error was handled by the pause transition, so the workflow completes.
    wait_for_state(mistral_client, ex_id, "SUCCESS")
    assert _state_map(api, ex_id) == {"check": "ERROR"}


def test_manual_pause_and_resume(api, workflows, mistral_client, wait_for_state):
    ex_id = _start(api, workflows, "long_running", {})
    try:
        wait_for_state(mistral_client, ex_id, "RUNNING")
        api.update_execution(ex_id, "PAUSED")
        wait_for_state(mistral_client, ex_id, "PAUSED")
        cascade.apply_to_tree(api, ex_id, cascade.RESUME)
        assert api.get_execution(ex_id)["state"] == "RUNNING"
    finally:
        api.update_execution(ex_id, "CANCELLED")


# -- resume from the next tasks ------------------------------------------------------------------------


def test_resume_from_next_refuses_missing_variables_across_branches(api, failed_parallel):
    before = _state_map(api, failed_parallel)
    with pytest.raises(MissingRequirementsError) as err:
        resume_from_next.resume_from_next(api, _ctx(failed_parallel), ["t3", "t4"], {"t3": {"note3": "x"}}, ST2_ENV)
    assert err.value.missing == {"t3": ["r3"], "t4": ["r4"]}
    assert str(err.value) == ("Cannot resume from the next tasks: missing published variables: "
                              "task 't3' needs r3; task 't4' needs r4.")
    assert _state_map(api, failed_parallel) == before


def test_resume_from_next_refuses_succeeded_task_and_unknown_variable(api, failed_parallel):
    with pytest.raises(RerunError) as err:
        resume_from_next.resume_from_next(api, _ctx(failed_parallel), ["t1"], {"t1": {"g": "x"}})
    assert str(err.value) == "Cannot resume: task 't1' is SUCCESS."
    with pytest.raises(RerunError) as err:
        resume_from_next.resume_from_next(api, _ctx(failed_parallel), ["t3", "t4"],
                                {"t3": {"r3": 1, "bogus": 2}, "t4": {"r4": 2}})
    assert str(err.value) == "Cannot resume: task 't3' does not publish bogus (it publishes: r3, note3)."


def test_resume_from_next_with_supplied_variables_succeeds(api, workflows, mistral_client, wait_for_state):
    ex_id = _start(api, workflows, "parallel_fail", {})
    wait_for_state(mistral_client, ex_id, "ERROR")
    resume_from_next.resume_from_next(api, _ctx(ex_id), ["t3", "t4"],
                            {"t3": {"r3": {"given": 3}}, "t4": {"r4": "four"}}, ST2_ENV)
    wait_for_state(mistral_client, ex_id, "SUCCESS")
    states = _state_map(api, ex_id)
    assert states == {"t1": "SUCCESS", "t3": "SKIPPED", "t4": "SKIPPED",
                      "t5": "SUCCESS", "t6": "SUCCESS", "t7": "SUCCESS"}
    assert _output(api, ex_id) == {"r3": {"given": 3}, "r4": "four", "tail": "done"}
    tasks = _tasks(api, ex_id)
    assert json.loads(tasks["t3"]["published"]) == {"r3": {"given": 3}, "note3": None}


# -- inbound context ---------------------------------------------------------------------------------------


def test_inbound_context_of_failed_task(api, workflows, mistral_client, wait_for_state):
    ex_id = _start(api, workflows, "parallel_fail", dict(ST2_ENV, region="eu"))
    wait_for_state(mistral_client, ex_id, "ERROR")
    view = inbound_context.task_inbound_context(api, ex_id, "t3")
    assert view["state"] == "ERROR"
    assert view["input"] == {"greeting": "hello"}
    assert view["published"] == {"g": "hello"}
    assert view["variables"] == {"greeting": "hello", "g": "hello"}
    assert view["env"]["region"] == "eu"
    assert view["env"]["__actions"]["st2.action"]["st2_context"]["auth_token"] == "********"
    assert "s3cr3t-token" not in json.dumps(view)


def test_inbound_context_of_nested_task(api, workflows, mistral_client, wait_for_state):
    ex_id = _start(api, workflows, "nested", {})
    wait_for_state(mistral_client, ex_id, "ERROR")
    view = inbound_context.task_inbound_context(api, ex_id, "task1.subtask1")
    assert view["state"] == "ERROR" and view["published"] == {}
    assert view["workflow_execution_id"] != ex_id
    with pytest.raises(RerunError, match=r"task 'zzz' does not exist \(tasks at this level: task1\)"):
        inbound_context.task_inbound_context(api, ex_id, "zzz")


def test_resume_from_next_inside_a_workbook_subworkflow(api, workflows, mistral_client, wait_for_state):
    ex_id = _start(api, workflows, "nested", {})
    wait_for_state(mistral_client, ex_id, "ERROR")
    with pytest.raises(MissingRequirementsError, match=r"task 'task1.subtask1' needs s\."):
        resume_from_next.resume_from_next(api, _ctx(ex_id), ["task1.subtask1"], {})
    resume_from_next.resume_from_next(api, _ctx(ex_id), ["task1.subtask1"], {"task1.subtask1": {"s": "given"}}, ST2_ENV)
    wait_for_state(mistral_client, ex_id, "SUCCESS")
    assert _state_map(api, ex_id) == {"task1": "SUCCESS", "task2": "SUCCESS"}
    assert _output(api, ex_id) == {"sub_out": "given"}


def test_inbound_context_after_a_rerun_that_failed_again(api, workflows, mistral_client, wait_for_state):
    ex_id = _start(api, workflows, "parallel_fail", {})
    wait_for_state(mistral_client, ex_id, "ERROR")
    rerun.rerun_tasks(api, _ctx(ex_id), ["t3"], env=ST2_ENV)       # not fixed: fails again
    wait_for_state(mistral_client, ex_id, "ERROR")
    assert _state_map(api, ex_id)["t3"] == "ERROR"
    view = inbound_context.task_inbound_context(api, ex_id, "t3")
    assert view["published"] == {"g": "hello"} and view["env"]["st2_execution_id"] == "new-st2-id"
