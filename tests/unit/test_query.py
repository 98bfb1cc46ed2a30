"""MistralResultsQuerier over a fake Mistral HTTP transport: batching, statuses, failures."""
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from mistral_opts import mistral_opts

from mistral_v2 import query
from mistral_v2.mistral_api import MistralAPI


class FakeMistral(requests.adapters.BaseAdapter):
    """Enough of Mistral's v2 listing API (filters eq/in, limit/marker) to serve the querier."""

    def __init__(self):
        super().__init__()
        self.executions, self.tasks, self.action_executions = [], [], []
        self.calls = []
        self.down = False

    def add_workflow(self, st2_id, state="SUCCESS", task_states=("SUCCESS", "SUCCESS")):
        ex_id = "ex-%s" % st2_id
        self.executions.append({"id": ex_id, "description": "st2:%s" % st2_id, "workflow_name": "pk.wf",
                                "state": state, "state_info": None, "output": '{"n": 1}',
                                "created_at": "2026-01-01 00:00:00", "root_execution_id": None})
        for i, ts in enumerate(task_states):
            tid = "t%d-%s" % (i, st2_id)
            self.tasks.append({"id": tid, "name": "task%d" % i, "workflow_execution_id": ex_id,
                               "workflow_name": "pk.wf", "state": ts, "published": "{}",
                               "created_at": "2026-01-01 00:00:0%d" % i, "runtime_context": "{}"})
            self.action_executions.append({"id": "a" + tid, "task_execution_id": tid, "input": '{"i": %d}' % i,
                                           "output": '{"result": %d}' % i, "workflow_name": "pk.wf"})
        return ex_id

    @staticmethod
    def _match(item, key, flt):
        if key in ("limit", "marker", "include_output", "created_at", "sort_keys", "sort_dirs", "fields"):
            return True
        if flt.startswith("in:"):
            return item.get(key) in flt[3:].split(",")
        return item.get(key) == flt

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        path = parts.path.split("/v2", 1)[1]
        self.calls.append((request.method, path))
        if self.down:
            raise requests.exceptions.ConnectionError("refused")
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if path.startswith("/executions/"):
            found = [e for e in self.executions if e["id"] == path.split("/")[2]]
            return self._resp(request, 200, found[0]) if found else \
                self._resp(request, 404, {"faultstring": "not found"})
        key = path.strip("/")
        items = {"executions": self.executions, "tasks": self.tasks,
                 "action_executions": self.action_executions}[key]
        items = [i for i in items if all(self._match(i, k, v) for k, v in q.items())]
        if q.get("marker"):
            ids = [i["id"] for i in items]
            items = items[ids.index(q["marker"]) + 1:]
        if q.get("limit"):
            items = items[:int(q["limit"])]
        return self._resp(request, 200, {key: items})

    @staticmethod
    def _resp(request, status, body):
        resp = requests.Response()
        resp.request, resp.url = request, request.url
        resp.status_code = status
        resp._content = json.dumps(body).encode()
        return resp

    def close(self):
        pass


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def conf():
    return mistral_opts(retry_attempts=2, retry_exp_msec=0, jitter_interval=0, unreachable_grace_period=60,
                        query_batch_size=500)


@pytest.fixture
def setup(conf):
    fake = FakeMistral()
    api = MistralAPI(url="http://fake:1/v2", conf=conf, transport=fake, sleep=lambda s: None)
    clock = Clock()
    querier = query.MistralResultsQuerier(api=api, conf=conf, tracker=query.UnreachableTracker(clock))
    return fake, querier, clock


def _items(n):
    return [("st2-%03d" % i, {"execution_id": "ex-st2-%03d" % i}) for i in range(n)]


@pytest.mark.parametrize("n", [10, 100])
def test_query_many_uses_a_constant_number_of_calls(setup, n):
    fake, querier, _ = setup
    for st2_id, _ in _items(n):
        fake.add_workflow(st2_id)
    answer = querier.query_many(_items(n))
    assert len(answer) == n
    assert all(status == "succeeded" for status, _ in answer.values())
    assert len(fake.calls) == 4, fake.calls  # roots, sub-workflows, tasks, action executions


def test_result_holds_output_and_tasks(setup):
    fake, querier, _ = setup
    fake.add_workflow("abc", state="RUNNING", task_states=("SUCCESS", "RUNNING"))
    status, result = querier.query("abc", {"execution_id": "ex-abc"})
    assert status == "running"
    assert [t["name"] for t in result["tasks"]] == ["task0", "task1"]
    assert result["tasks"][0]["result"] == 0 and result["tasks"][1]["input"] == {"i": 1}


def test_paused_with_running_task_is_pausing(setup):
    fake, querier, _ = setup
    fake.add_workflow("p", state="PAUSED", task_states=("SUCCESS", "RUNNING"))
    assert querier.query("p", {"execution_id": "ex-p"})[0] == "pausing"


def test_deleted_execution_fails_with_reason(setup):
    fake, querier, _ = setup
    fake.add_workflow("keep")
    answer = querier.query_many([("gone", {"execution_id": "ex-gone"}), ("keep", {"execution_id": "ex-keep"})])
    status, result = answer["gone"]
    assert status == "failed" and "no longer exists" in result["error"]
    assert answer["keep"][0] == "succeeded"


def test_unreachable_keeps_status_then_fails_after_grace(setup):
    fake, querier, clock = setup
    fake.add_workflow("u", state="RUNNING", task_states=("RUNNING",))
    fake.down = True
    with pytest.raises(query.MistralUnreachableError):
        querier.query("u", {"execution_id": "ex-u"})
    clock.now += 30
    with pytest.raises(query.MistralUnreachableError):
        querier.query("u", {"execution_id": "ex-u"})
    clock.now += 31
    status, result = querier.query("u", {"execution_id": "ex-u"})
    assert status == "failed"
    assert result["error"].startswith("Mistral unreachable since 1970-01-01T00:16:40")


def test_recovery_resets_the_unreachable_clock(setup):
    fake, querier, clock = setup
    fake.add_workflow("r", state="RUNNING", task_states=("RUNNING",))
    fake.down = True
    with pytest.raises(query.MistralUnreachableError):
        querier.query("r", {"execution_id": "ex-r"})
    fake.down = False
    clock.now += 100
    assert querier.query("r", {"execution_id": "ex-r"})[0] == "running"
    fake.down = True
    clock.now += 100
    with pytest.raises(query.MistralUnreachableError):
        querier.query("r", {"execution_id": "ex-r"})
