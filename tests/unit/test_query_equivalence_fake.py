"""query_many over an in-memory Mistral: calls per cycle do not grow with executions, batching never
mixes executions up, finished with-items results come in item order with one cached GET."""
import json
import types

import pytest

from mistral_v2 import query
from mistral_v2.exceptions import WorkflowNotFoundError

STAMP = "2026-01-01 00:00:00"


class FakeAPI:
    """The MistralAPI methods query_many uses, over lists of records; counts every call."""

    url = "http://mistral.test/v2"

    def __init__(self):
        self.executions, self.tasks, self.action_exs = [], [], []
        self.task_results = {}
        self.calls = []

    def add(self, st2_id, state="RUNNING", items=None, subs=0, name="pk.wf"):
        ex_id = "ex-" + st2_id
        self.executions.append({"id": ex_id, "description": "st2:" + st2_id, "workflow_name": name,
                                "state": state, "output": json.dumps({"who": st2_id}),
                                "created_at": STAMP, "root_execution_id": None})
        self._task(ex_id, name, "t-" + st2_id, "SUCCESS", [("in-" + st2_id, "out-" + st2_id)])
        if items is not None:
            self._task(ex_id, name, "w-" + st2_id, "SUCCESS", items, with_items=True)
            self.task_results["w-" + st2_id] = sorted(out for _, out in items)
        for i in range(subs):
            sub_id = "sub%d-%s" % (i, st2_id)
            tid = "call%d-%s" % (i, st2_id)
            self._task(ex_id, name, tid, "SUCCESS", [])
            self.executions.append({"id": sub_id, "description": "sub-workflow execution",
                                    "workflow_name": "pk.sub", "state": "SUCCESS",
                                    "output": json.dumps({"sub": i}), "created_at": STAMP,
                                    "root_execution_id": ex_id, "task_execution_id": tid})
            self._task(sub_id, "pk.sub", "in%d-%s" % (i, st2_id), "SUCCESS", [("x", "y%d" % i)])
        return ex_id

    def _task(self, ex_id, wf_name, tid, state, actions, with_items=False):
        ctx = {"with_items": {"count": len(actions)}} if with_items else {}
        self.tasks.append({"id": tid, "name": tid.split("-")[0], "workflow_execution_id": ex_id,
                           "workflow_name": wf_name, "state": state, "published": "{}",
                           "runtime_context": json.dumps(ctx), "created_at": STAMP, "updated_at": STAMP})
        for i, (inp, out) in enumerate(actions):
            self.action_exs.append({"id": "a%d-%s" % (i, tid), "task_execution_id": tid,
                                    "workflow_name": wf_name, "input": json.dumps({"v": inp}),
                                    "output": json.dumps({"result": out}), "created_at": STAMP})

    def find_executions_by_description(self, descriptions):
        self.calls.append("executions")
        wanted = set(descriptions)
        return [e for e in self.executions if e["description"] in wanted]

    def get_execution(self, ex_id):
        self.calls.append("get execution")
        for e in self.executions:
            if e["id"] == ex_id:
                return e
        raise WorkflowNotFoundError("gone", 404)

    def list_subexecutions(self, since):
        self.calls.append("subexecutions")
        return [e for e in self.executions if e["root_execution_id"]]

    def list_tasks_of_workflows(self, names, since):
        self.calls.append("tasks")
        return [t for t in self.tasks if t["workflow_name"] in set(names)]

    def list_action_executions_of_workflows(self, names, since):
        self.calls.append("action executions")
        return [a for a in self.action_exs if a["workflow_name"] in set(names)]

    def get_task(self, task_id):
        self.calls.append("get task")
        return {"id": task_id, "result": json.dumps(self.task_results[task_id])}


def opts(batch=100, result_format="st2"):
    return types.SimpleNamespace(query_batch_size=batch, max_result_size=10 ** 7,
                                 unreachable_grace_period=300, result_format=result_format)


def items_for(api, ids):
    return [(i, {"execution_id": "ex-" + i}) for i in ids]


@pytest.mark.parametrize("count", [1, 10, 100])
def test_calls_per_cycle_do_not_grow_within_a_batch(count):
    api = FakeAPI()
    ids = ["s%04d" % i for i in range(count)]
    for i in ids:
        api.add(i, subs=1)
    answer = query.MistralResultsQuerier(api=api, conf=opts(batch=100)).query_many(items_for(api, ids))
    assert len(answer) == count
    assert api.calls == ["executions", "subexecutions", "tasks", "action executions"]


def test_only_the_root_listing_grows_with_batches():
    api = FakeAPI()
    ids = ["s%04d" % i for i in range(1000)]
    for i in ids:
        api.add(i)
    query.MistralResultsQuerier(api=api, conf=opts(batch=100)).query_many(items_for(api, ids))
    assert api.calls.count("executions") == 10
    assert len(api.calls) == 13


def test_batched_answer_equals_each_alone():
    api = FakeAPI()
    ids = ["a", "b", "c", "d"]
    api.add("a", state="SUCCESS", items=[("1", "r1"), ("2", "r2")])
    api.add("b", state="RUNNING", subs=2)
    api.add("c", state="ERROR")
    api.add("d", state="PAUSED", items=[("3", "r3")], subs=1)
    querier = query.MistralResultsQuerier(api=api, conf=opts())
    batched = querier.query_many(items_for(api, ids))
    for st2_id, ctx in items_for(api, ids):
        assert batched[st2_id] == querier.query(st2_id, ctx)
    assert {k: v[0] for k, v in batched.items()} == {"a": "succeeded", "b": "running", "c": "failed",
                                                     "d": "paused"}
    b_tasks = {t["name"] for t in batched["b"][1]["tasks"]}
    assert b_tasks == {"t", "call0", "call1"}  # its own only (StackStorm's shape)
    nested = query.MistralResultsQuerier(api=api, conf=opts(result_format="nested"))
    nested_tasks = {t["name"] for t in nested.query("b", dict(items_for(api, ["b"]))["b"])[1]["tasks"]}
    assert nested_tasks == {"t", "call0", "call1", "in0", "in1"}  # and its sub-workflows' in "nested"


def test_with_items_result_in_item_order_with_one_cached_get():
    api = FakeAPI()
    api.add("a", state="SUCCESS", items=[("3", "r3"), ("1", "r1"), ("2", "r2")])
    querier = query.MistralResultsQuerier(api=api, conf=opts())
    for _ in range(3):
        status, result = querier.query("a", {"execution_id": "ex-a"})
        many = [t for t in result["tasks"] if t["id"] == "w-a"][0]
        assert many["result"] == ["r1", "r2", "r3"]
        assert many["input"] == [{"v": "1"}, {"v": "2"}, {"v": "3"}]
    assert api.calls.count("get task") == 1


def test_running_with_items_task_is_not_fetched():
    api = FakeAPI()
    api.add("a", items=[("2", "r2"), ("1", "r1")])
    api.tasks[-1]["state"] = "RUNNING"
    query.MistralResultsQuerier(api=api, conf=opts()).query("a", {"execution_id": "ex-a"})
    assert "get task" not in api.calls


def test_reorder_items_keeps_inputs_with_their_results_even_with_duplicates():
    entry = {"result": ["b", "a", "b"], "input": [{"i": 2}, {"i": 1}, {"i": 3}]}
    query.reorder_items(entry, ["a", "b", "b"])
    assert entry == {"result": ["a", "b", "b"], "input": [{"i": 1}, {"i": 2}, {"i": 3}]}


def test_reorder_items_leaves_inputs_when_results_do_not_match():
    entry = {"result": ["x"], "input": [{"i": 1}]}
    query.reorder_items(entry, ["y"])
    assert entry == {"result": ["y"], "input": [{"i": 1}]}
