"""Result building and capping."""
import json

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


def test_success_result_has_output_and_tasks():
    ex = {"state": "SUCCESS", "output": '{"r": 1}', "state_info": None}
    res = results.build_result(ex, [])
    assert res == {"output": {"r": 1}, "tasks": []}


def test_error_result_carries_error_text():
    ex = {"state": "ERROR", "output": '{"result": "boom"}', "state_info": "Failure caused by boom"}
    res = results.build_result(ex, [])
    assert res["error"] == "Failure caused by boom"
    assert res["state_info"] == "Failure caused by boom"


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
    assert result["output"] == {"password": "********", "ok": 1}
