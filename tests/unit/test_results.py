"""Result building and capping."""
import json

import pytest

from mistral_v2 import results


def _task(tid, name, state="SUCCESS", wf="p.wf", wf_ex="ex1", created="2026-01-01 00:00:0%d", **kw):
    d = {"id": tid, "name": name, "state": state, "workflow_name": wf, "workflow_execution_id": wf_ex,
         "state_info": None, "published": '{"x": 1}', "created_at": created % int(tid[-1]),
         "updated_at": created % int(tid[-1]), "runtime_context": "{}"}
    d.update(kw)
    return d


def test_task_entry_decodes_json_and_takes_action_result():
    entry = results.task_entry(_task("t1", "a"), [{"task_execution_id": "t1", "input": '{"cmd": "ls"}',
                                                   "output": '{"result": {"stdout": "ok"}}'}], [])
    assert entry["input"] == {"cmd": "ls"}
    assert entry["result"] == {"stdout": "ok"}
    assert entry["published"] == {"x": 1}
    assert set(entry) == {"id", "name", "workflow_execution_id", "workflow_name", "state", "state_info",
                          "input", "published", "result", "created_at", "updated_at"}


def test_with_items_task_lists_results_in_item_order():
    task = _task("t1", "each", runtime_context='{"with_items": {"count": 2}}')
    actions = [
        {"task_execution_id": "t1", "input": '{"i": 1}', "output": '{"result": "b"}',
         "runtime_context": '{"index": 1}'},
        {"task_execution_id": "t1", "input": '{"i": 0}', "output": '{"result": "a"}',
         "runtime_context": '{"index": 0}'},
    ]
    entry = results.task_entry(task, actions, [])
    assert entry["result"] == ["a", "b"]
    assert entry["input"] == [{"i": 0}, {"i": 1}]


def test_subworkflow_task_result_is_the_subworkflow_output():
    sub = {"id": "ex2", "task_execution_id": "t1", "output": '{"said": "HI"}', "input": '{"w": "hi"}'}
    entry = results.task_entry(_task("t1", "call"), [], [sub])
    assert entry["result"] == {"said": "HI"}


def test_success_result_has_output_keys_at_the_top_extra_and_root_tasks():
    """StackStorm's mistral_v2 shape (3.2): output keys, extra {state, state_info}, root tasks only."""
    ex = {"id": "ex1", "state": "SUCCESS", "output": '{"r": 1, "stdout": "hi"}', "state_info": None}
    root_task = {"id": "t1", "workflow_execution_id": "ex1", "name": "a"}
    sub_task = {"id": "t2", "workflow_execution_id": "ex2", "name": "deep"}
    res = results.build_result(ex, [root_task, sub_task])
    assert res == {"r": 1, "stdout": "hi", "extra": {"state": "SUCCESS", "state_info": None},
                   "tasks": [root_task]}


def test_nested_format_keeps_output_under_a_key_and_every_task():
    ex = {"id": "ex1", "state": "SUCCESS", "output": '{"r": 1}', "state_info": None}
    tasks = [{"id": "t1", "workflow_execution_id": "ex1"}, {"id": "t2", "workflow_execution_id": "ex2"}]
    assert results.build_result(ex, tasks, "nested") == {"output": {"r": 1}, "tasks": tasks}


def test_unknown_result_format_is_refused_by_name():
    with pytest.raises(ValueError, match="'flat'.*st2, nested"):
        results.build_result({"state": "SUCCESS"}, [], "flat")


def test_running_workflow_has_no_output_yet():
    ex = {"id": "ex1", "state": "RUNNING", "output": '{"partial": 1}', "state_info": None}
    assert results.build_result(ex, []) == {"extra": {"state": "RUNNING", "state_info": None}, "tasks": []}


def test_error_result_is_mistral_output_with_state_info_in_extra():
    ex = {"id": "ex1", "state": "ERROR", "output": '{"result": "boom", "why": "disk"}',
          "state_info": "Failure caused by boom"}
    res = results.build_result(ex, [])
    assert res == {"result": "boom", "why": "disk", "tasks": [],
                   "extra": {"state": "ERROR", "state_info": "Failure caused by boom"}}


def test_nested_error_result_carries_error_text():
    ex = {"state": "ERROR", "output": '{"result": "boom"}', "state_info": "Failure caused by boom"}
    res = results.build_result(ex, [], "nested")
    assert res["error"] == "Failure caused by boom"
    assert res["state_info"] == "Failure caused by boom"


def test_output_keys_at_the_top_are_capped_one_by_one():
    ex = {"id": "ex1", "state": "SUCCESS", "output": json.dumps({"big": "x" * 50000, "small": 1})}
    _, res = results.summarize(ex, [], max_size=5000)
    assert len(json.dumps(res)) <= 5000 and res["__truncated__"] is True
    assert res["big"]["__truncated__"] is True and res["small"] == 1
    assert res["extra"] == {"state": "SUCCESS", "state_info": None}


def test_small_result_is_not_capped():
    res = {"output": {"a": 1}, "tasks": []}
    assert results.cap_result(res, 10000) is res


def test_large_result_is_capped_with_visible_marker():
    big = "x" * 50000
    res = {"output": {"small": 1}, "tasks": [
        {"id": "t1", "name": "a", "result": big, "input": {"cmd": "ls"}, "published": {}},
        {"id": "t2", "name": "b", "result": "ok", "input": {}, "published": {}},
    ]}
    capped = results.cap_result(res, 5000)
    assert len(json.dumps(capped)) <= 5000
    assert capped["__truncated__"] is True
    assert capped["original_size"] == len(json.dumps(res))
    marker = capped["tasks"][0]["result"]
    assert marker["__truncated__"] is True and marker["original_size"] == len(json.dumps(big))
    assert capped["tasks"][1]["result"] == "ok"
    assert res["tasks"][0]["result"] == big  # the input is not modified


def test_too_many_tasks_are_dropped_with_a_count():
    res = {"output": {}, "tasks": [{"id": "t%d" % i, "name": "n" * 200} for i in range(100)]}
    capped = results.cap_result(res, 4000)
    assert len(json.dumps(capped)) <= 4000
    assert capped["tasks_omitted"] == 100 - len(capped["tasks"])
    assert capped["tasks_omitted"] > 0


def test_summarize_uses_subworkflow_task_states():
    ex = {"state": "PAUSED", "output": "{}"}
    tasks = [{"state": "SUCCESS"}, {"state": "RUNNING"}]
    status, _ = results.summarize(ex, [dict(t, created_at="", id="x") for t in tasks])
    assert status == "pausing"


def test_secret_values_are_masked_in_the_result():
    ex = {"state": "SUCCESS", "output": '{"password": "hunter2", "ok": 1}'}
    tasks = [{"id": "t", "created_at": "", "state": "SUCCESS",
              "input": {"ref": "core.http", "parameters": {"password": "hunter2", "url": "u"}},
              "published": {"auth_token": "tok"}, "result": None}]
    status, result = results.summarize(ex, tasks, secret_names=["password"])
    assert "hunter2" not in json.dumps(result) and "\"tok\"" not in json.dumps(result)
    assert result["tasks"][0]["input"]["parameters"] == {"password": "********", "url": "u"}
    assert result["password"] == "********" and result["ok"] == 1
