"""st2mistral_sync: the shared engine (callbacks, reconcile, sweep, partition) and its REST port, with fakes."""
from __future__ import annotations

import contextlib
import json
import zlib
from typing import Any, Dict, List

import pytest

from mistral_v2.exceptions import MistralAPIError, MistralUnreachableError, StackStormAPIError
from st2mistral_sync import engine as engine_mod
from st2mistral_sync.engine import (
    ALREADY,
    APPLIED,
    FAILED,
    REJECTED,
    RESUMED,
    SKIPPED,
    Alone,
    SyncEngine,
    may_await_callback,
    owner_key,
    task_states,
)
from st2mistral_sync.rest import RestExecutions
from st2mistral_sync.st2_seam import with_membership_timeout

URL = "http://mistral:8989/v2/action_executions/%s"


def child(ex_id: str, parent: str = "wf1", status: str = "succeeded", task: str = "t-1") -> Dict[str, Any]:
    return {"id": ex_id, "status": status, "parent": parent, "result": {"stdout": ex_id},
            "context": {"parent": {"execution_id": parent}, "mistral": {"task_execution_id": task}},
            "liveaction": {"callback": {"source": "mistral_v2", "url": URL % ("ae-" + ex_id)}}}


def workflow(ex_id: str, status: str = "running") -> Dict[str, Any]:
    return {"id": ex_id, "status": status, "context": {"mistral": {"execution_id": "m-" + ex_id}}}


class FakeExecutions:
    def __init__(self, docs: List[Dict[str, Any]], children: List[Dict[str, Any]] = ()) -> None:
        self.docs = {d["id"]: d for d in list(docs) + list(children)}
        self.workflows = [d["id"] for d in docs]
        self.children = list(children)
        self.recorded: List[Any] = []
        self.done: List[Any] = []

    def unfinished_workflows(self):
        return [self.docs[i] for i in self.workflows]

    def get(self, execution_id):
        return self.docs[execution_id]

    def record(self, doc, status, result):
        self.recorded.append((doc["id"], status, result))
        return True

    def due_callbacks(self, docs, answers):
        ids = {d["id"] for d in docs}
        return [c for c in self.children if c["parent"] in ids]

    def claim_callback(self, doc):
        return True

    def callback_done(self, doc, outcome):
        self.done.append((doc["id"], outcome))

    def paused_children(self, parent_ids):
        return []


class FakeHandler:
    calls: List[Any] = []
    behaviour: Dict[str, Any] = {}

    @classmethod
    def callback(cls, url, context, status, result):
        cls.calls.append((url, status, result))
        what = cls.behaviour.get(url, True)
        if isinstance(what, Exception):
            raise what
        return what


class FakeQuerier:
    def __init__(self, answers=None, error=None):
        self.answers = answers or {}
        self.error = error
        self.asked: List[Any] = []

    def query_many(self, items):
        self.asked.append([i for i, _ in items])
        if self.error:
            raise self.error
        return {i: self.answers[i] for i, _ in items if i in self.answers}


class HalfPartition:
    """Owns the keys whose crc32 has parity `me` (two of these split every key exactly once)."""

    def __init__(self, me: int) -> None:
        self.me = me
        self.refreshed = 0

    def refresh(self):
        self.refreshed += 1

    def owns(self, key):
        return zlib.crc32(key.encode()) % 2 == self.me

    @contextlib.contextmanager
    def lock(self, key):
        yield True


@pytest.fixture(autouse=True)
def handler():
    FakeHandler.calls, FakeHandler.behaviour = [], {}
    yield FakeHandler


def make(executions, querier=None, partition=None):
    querier = querier or FakeQuerier()
    return SyncEngine(executions, partition, querier_factory=lambda: querier, handler_factory=lambda: FakeHandler)


def test_completed_child_with_mistral_callback_is_delivered_with_fresh_state():
    kid = child("c1")
    fake = FakeExecutions([], [kid])
    fake.docs["c1"] = dict(kid, result={"stdout": "fresh"})
    assert make(fake).on_update(kid) == APPLIED
    assert FakeHandler.calls == [(URL % "ae-c1", "succeeded", {"stdout": "fresh"})]
    assert fake.done == [("c1", APPLIED)]


@pytest.mark.parametrize("doc", [
    child("c1", status="running"),
    dict(child("c1"), liveaction={"callback": {"source": "other", "url": "http://x/y"}}),
    dict(child("c1"), liveaction={}),
])
def test_updates_that_are_not_a_finished_mistral_child_are_ignored(doc):
    assert make(FakeExecutions([], [doc])).on_update(doc) is None
    assert FakeHandler.calls == []


def test_outcomes_already_rejected_failed():
    kids = [child("c1"), child("c2"), child("c3")]
    FakeHandler.behaviour = {URL % "ae-c1": False, URL % "ae-c2": MistralAPIError("gone", 404),
                             URL % "ae-c3": MistralUnreachableError("down")}
    fake = FakeExecutions([], kids)
    eng = make(fake)
    assert [eng.deliver(k) for k in kids] == [ALREADY, REJECTED, FAILED]
    assert fake.done == [("c1", ALREADY), ("c2", REJECTED), ("c3", FAILED)]
    assert eng.delivered == {ALREADY: 1, REJECTED: 1, FAILED: 1}


def test_a_child_being_delivered_is_not_delivered_twice_at_once():
    part = Alone()
    eng = make(FakeExecutions([], [child("c1")]), partition=part)
    with part.lock("callback:c1"):
        assert eng.deliver(child("c1")) == SKIPPED
    assert FakeHandler.calls == []
    assert eng.deliver(child("c1")) == APPLIED


def test_reconcile_records_what_mistral_says_and_sweeps_missed_callbacks():
    kid = child("c1", parent="wf1")
    FakeHandler.behaviour = {URL % "ae-c1": MistralUnreachableError("down")}
    querier = FakeQuerier({"wf1": ("running", {"tasks": [{"id": "t-1", "state": "RUNNING"}]}),
                           "wf2": ("succeeded", {"output": {"x": 1}, "tasks": []})})
    fake = FakeExecutions([workflow("wf1"), workflow("wf2")], [kid])
    eng = make(fake, querier)
    assert eng.on_update(kid) == FAILED  # Mistral down when the child finished
    FakeHandler.behaviour = {}
    counts = eng.reconcile_once()
    assert querier.asked == [["wf1", "wf2"]]
    assert ("wf2", "succeeded", {"output": {"x": 1}, "tasks": []}) in fake.recorded
    assert counts["queried"] == 2 and counts["updated"] == 2 and counts["callbacks"] == 1
    assert [c[0] for c in FakeHandler.calls] == [URL % "ae-c1"] * 2


def test_mistral_unreachable_keeps_statuses():
    fake = FakeExecutions([workflow("wf1")])
    counts = make(fake, FakeQuerier(error=MistralUnreachableError("down"))).reconcile_once()
    assert counts["queried"] == 1 and counts["updated"] == 0 and fake.recorded == []


def test_executions_without_a_mistral_execution_are_not_queried():
    fake = FakeExecutions([{"id": "wf0", "status": "running", "context": {}}, workflow("wf1")])
    querier = FakeQuerier()
    make(fake, querier).reconcile_once()
    assert querier.asked == [["wf1"]]


def test_two_instances_split_executions_and_callbacks_exactly_once():
    ids = ["wf%d" % i for i in range(40)]
    kids = [child("c-" + i, parent=i) for i in ids]
    answers = {i: ("running", {"tasks": [{"id": "t-1", "state": "RUNNING"}]}) for i in ids}
    queriers = [FakeQuerier(answers), FakeQuerier(answers)]
    engines = [make(FakeExecutions([workflow(i) for i in ids], kids), queriers[n], HalfPartition(n))
               for n in (0, 1)]
    for eng in engines:
        eng.reconcile_once()
    asked = [set(q.asked[0]) for q in queriers]
    assert asked[0] and asked[1] and not asked[0] & asked[1] and asked[0] | asked[1] == set(ids)
    delivered = sorted(c[0] for c in FakeHandler.calls)
    assert delivered == sorted(URL % ("ae-c-" + i) for i in ids)  # each once, by one instance
    # a bus message reaches both instances; only the owner of the parent delivers it
    FakeHandler.calls = []
    outcomes = [eng.on_update(kids[0]) for eng in engines]
    assert outcomes == [SKIPPED, SKIPPED] and FakeHandler.calls == []  # settled: Mistral not asked again
    fresh = child("c-new", parent=ids[0])
    outcomes = [eng.on_update(fresh, complete=True) for eng in engines]
    assert sorted(outcomes) == sorted([APPLIED, SKIPPED]) and len(FakeHandler.calls) == 1


def test_pure_helpers():
    assert owner_key(child("c1", parent="wf9")) == "wf9"
    assert owner_key({"id": "x", "context": {"parent": {"execution_id": "p"}}}) == "p"
    assert owner_key({"id": "x"}) == "x"
    states = task_states({"tasks": [{"id": 1, "state": "RUNNING"}, {"id": 2, "state": "SUCCESS"}]})
    assert states == {"1": "RUNNING", "2": "SUCCESS"} and task_states(None) == {}
    assert may_await_callback("1", states) and not may_await_callback("2", states)
    assert may_await_callback("sub-task", states)  # a sub-workflow task: not listed in the "st2" format
    assert not may_await_callback("1", {}) and not may_await_callback("x", {"2": "SUCCESS"})
    assert with_membership_timeout("redis://h:6379/?namespace=a", 5) == "redis://h:6379/?namespace=a&membership_timeout=5"
    assert with_membership_timeout("redis://h:6379?membership_timeout=9", 5) == "redis://h:6379?membership_timeout=9"
    assert with_membership_timeout("zookeeper://h:2181", 5) == "zookeeper://h:2181"


# -- the REST port -----------------------------------------------------------------------------------


class FakeResponse:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code = status
        self.content = json.dumps(body).encode()
        self._body = body
        self.text = self.content.decode()

    def json(self):
        return self._body


class FakeSession:
    def __init__(self, executions: List[Dict[str, Any]]) -> None:
        self.executions = executions
        self.requests: List[Any] = []

    def request(self, method, url, headers=None, timeout=None, params=None, json=None):
        self.requests.append((method, url.split("/v1", 1)[1], params, json))
        if method == "PUT":
            return FakeResponse(200, {})
        params = params or {}
        found = [d for d in self.executions
                 if all(str(d.get(k)) == str(v) for k, v in params.items()
                        if k in ("status", "parent")) and (params.get("runner") in (None, d.get("runner")))]
        off, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
        return FakeResponse(200, found[off:off + limit])


class Opts:
    retry_attempts, retry_exp_msec, retry_exp_max_msec, retry_stop_max_msec, jitter_interval = 1, 1, 1, 1, 0
    request_timeout = 5


def rest(executions):
    session = FakeSession(executions)
    return RestExecutions("http://st2/v1", api_key="k", conf=Opts(), session=session), session


def test_rest_lists_every_unfinished_workflow_across_pages():
    docs = [dict(workflow("r%03d" % i), runner="mistral-v2") for i in range(150)]
    docs += [dict(workflow("p1", "paused"), runner="mistral-v2"), dict(workflow("x", "running"), runner="local")]
    port, session = rest(docs)
    found = port.unfinished_workflows()
    assert [d["id"] for d in found] == sorted(["r%03d" % i for i in range(150)] + ["p1"])
    gets = [r for r in session.requests if r[0] == "GET"]
    assert all(r[2]["runner"] == "mistral-v2" and "result" not in r[2]["include_attributes"] for r in gets)


@pytest.mark.parametrize("current,status,written", [
    ("running", "running", False), ("running", "succeeded", True), ("pausing", "running", False),
    ("pausing", "paused", True), ("canceling", "running", False), ("paused", "running", True),
])
def test_rest_record_writes_status_changes_only(current, status, written):
    port, session = rest([])
    assert port.record(workflow("w", current), status, {"tasks": []}) is written
    puts = [r for r in session.requests if r[0] == "PUT"]
    assert puts == ([("PUT", "/executions/w", None, {"status": status, "result": {"tasks": []}})] if written else [])


def test_rest_sweep_lists_children_only_of_workflows_with_running_tasks():
    kids = [child("c1", parent="wf1", task="t-1"), child("c2", parent="wf1", task="t-2"),
            child("c3", parent="wf1", task="t-1", status="running"), child("c4", parent="wf1", task="sub-1")]
    port, session = rest(kids)
    answers = {"wf1": ("running", {"tasks": [{"id": "t-1", "state": "RUNNING"}, {"id": "t-2", "state": "SUCCESS"}]}),
               "wf2": ("running", {"tasks": [{"id": "t-9", "state": "SUCCESS"}]})}
    due = port.due_callbacks([workflow("wf1"), workflow("wf2")], answers)
    assert [d["id"] for d in due] == ["c1", "c4"]  # c4: a sub-workflow's task, not in the root's list
    assert [r[2]["parent"] for r in session.requests] == ["wf1"]


def test_settled_children_are_not_asked_about_again():
    kid = child("c1")
    FakeHandler.behaviour = {URL % "ae-c1": False}
    fake = FakeExecutions([workflow("wf1")], [kid])
    eng = make(fake, FakeQuerier({"wf1": ("running", {"tasks": [{"id": "t-1", "state": "RUNNING"}]})}))
    assert eng.on_update(kid, complete=True) == ALREADY
    assert eng.on_update(kid, complete=True) == SKIPPED  # a second bus message for the same child
    eng.reconcile_once()
    assert len(FakeHandler.calls) == 1
    failing = child("c2")
    FakeHandler.behaviour = {URL % "ae-c2": MistralUnreachableError("down")}
    assert eng.on_update(failing) == FAILED and not eng.settled("c2")  # retried by the sweep


def test_engine_module_keeps_no_st2common_import():
    assert "st2common" not in open(engine_mod.__file__).read()


# -- pause-up: a child's pause goes up to its mistral-v2 parent ---------------------------------------

class FakeSt2:
    """cascade.St2Executions over a dict of executions, with StackStorm's pause rules."""

    def __init__(self) -> None:
        self.docs: Dict[str, Dict[str, Any]] = {}
        self.requests: List[Any] = []
        self.down = False

    def add(self, ex_id: str, runner: str = "mistral-v2", parent: str = None, status: str = "running"):
        doc = {"id": ex_id, "status": status, "runner": {"name": runner}, "parent": parent,
               "context": {"parent": {"execution_id": parent}} if parent else {}}
        self.docs[ex_id] = doc
        return doc

    def get_execution(self, execution_id):
        if self.down:
            raise StackStormAPIError("StackStorm API unreachable")
        return dict(self.docs[execution_id])

    def list_children(self, execution_id):
        return [dict(d) for d in self.docs.values() if d["parent"] == execution_id]

    def request_pause(self, execution_id):
        self.requests.append(("pause", execution_id))
        doc = self.docs[execution_id]
        if doc["status"] in ("pausing", "paused"):
            return
        if doc["status"] != "running":
            raise StackStormAPIError('Unable to pause liveaction "%s"' % execution_id, status_code=400)
        doc["status"] = "pausing"

    def request_resume(self, execution_id):
        self.requests.append(("resume", execution_id))
        self.docs[execution_id]["status"] = "resuming"

    def request_cancel(self, execution_id):
        self.requests.append(("cancel", execution_id))


class OneLock:
    """A partition owning everything whose locks are shared between engines (tooz's, in one process)."""

    def __init__(self, held: set) -> None:
        self.held = held

    def refresh(self):
        return None

    def owns(self, key):
        return True

    @contextlib.contextmanager
    def lock(self, key):
        got = key not in self.held
        self.held.add(key)
        try:
            yield got
        finally:
            if got:
                self.held.discard(key)


def pausing_engine(st2: FakeSt2, partition=None) -> SyncEngine:
    return SyncEngine(FakeExecutions([]), partition, querier_factory=FakeQuerier,
                      handler_factory=lambda: FakeHandler, st2_executions=st2)


@pytest.mark.parametrize("child_runner", ["action-chain", "orquesta", "mistral-v2"])
def test_a_paused_child_pauses_its_running_mistral_parent_exactly_once(child_runner):
    st2 = FakeSt2()
    st2.add("wf")
    kid = st2.add("chain", runner=child_runner, parent="wf", status="pausing")
    eng = pausing_engine(st2)
    assert eng.on_update(dict(kid), complete=True) == APPLIED
    assert st2.requests == [("pause", "wf")] and st2.docs["wf"]["status"] == "pausing"
    st2.docs["chain"]["status"] = "paused"  # the second bus message of the same pause
    assert eng.on_update(dict(st2.docs["chain"]), complete=True) == ALREADY
    assert st2.requests == [("pause", "wf")]
    assert FakeHandler.calls == []  # a pausing child owes Mistral no callback


def test_a_pause_that_came_down_from_the_parent_does_not_bounce():
    st2 = FakeSt2()
    st2.add("wf", status="pausing")  # the user paused the parent; its runner paused the child
    kid = st2.add("chain", runner="action-chain", parent="wf", status="pausing")
    assert pausing_engine(st2).on_update(dict(kid)) == ALREADY
    assert st2.requests == []


def test_resuming_the_child_does_not_resume_the_parent():
    st2 = FakeSt2()
    st2.add("wf", status="paused")
    kid = st2.add("chain", runner="action-chain", parent="wf", status="resuming")
    eng = pausing_engine(st2)
    assert eng.on_update(dict(kid)) is None
    st2.docs["chain"]["status"] = "running"
    assert eng.on_update(dict(st2.docs["chain"])) is None
    assert st2.requests == [] and st2.docs["wf"]["status"] == "paused"


def test_pause_up_goes_only_to_a_mistral_v2_parent():
    st2 = FakeSt2()
    st2.add("orq", runner="orquesta")  # StackStorm's own workflows cascade up between themselves
    kid = st2.add("chain", runner="action-chain", parent="orq", status="paused")
    assert pausing_engine(st2).on_update(dict(kid)) == SKIPPED
    root = {"id": "top", "status": "paused", "context": {}}  # no parent: nothing to go up to
    assert pausing_engine(st2).on_update(root) is None
    assert st2.requests == []


def test_a_mistral_grandparent_is_reached_through_an_already_paused_parent():
    st2 = FakeSt2()
    st2.add("root")
    st2.add("wf", parent="root", status="paused")  # paused by Mistral alone
    kid = st2.add("chain", runner="action-chain", parent="wf", status="paused")
    assert pausing_engine(st2).on_update(dict(kid)) == APPLIED
    assert st2.requests == [("pause", "root")]


def test_two_instances_pause_the_parent_once():
    # owner split: only the owner of the parent's key acts
    st2 = FakeSt2()
    st2.add("wf")
    kid = st2.add("chain", runner="action-chain", parent="wf", status="pausing")
    engines = [pausing_engine(st2, HalfPartition(n)) for n in (0, 1)]
    assert sorted(eng.on_update(dict(kid), complete=True) for eng in engines) == sorted([APPLIED, SKIPPED])
    assert st2.requests == [("pause", "wf")]
    # while ownership moves both may own it: the lock and the fresh read keep it once
    st2.docs["wf"]["status"], st2.requests = "running", []
    held: set = set()
    a, b = pausing_engine(st2, OneLock(held)), pausing_engine(st2, OneLock(held))
    with a.partition.lock("pause-up:wf"):
        assert b.on_update(dict(kid)) == SKIPPED
    assert a.on_update(dict(kid)) == APPLIED and b.on_update(dict(kid)) == ALREADY
    assert st2.requests == [("pause", "wf")]


def test_pause_up_failures_are_logged_not_raised():
    st2 = FakeSt2()
    st2.add("wf", status="resuming")  # StackStorm refuses to pause a resuming execution
    kid = st2.add("chain", runner="action-chain", parent="wf", status="pausing")
    eng = pausing_engine(st2)
    assert eng.on_update(dict(kid)) == FAILED
    st2.down = True
    assert eng.on_update(dict(kid)) == FAILED
    assert eng.paused_up == {FAILED: 2}


def test_without_a_stackstorm_api_the_engine_does_not_pause_up():
    kid = child("c1", status="paused")
    assert make(FakeExecutions([], [kid])).on_update(kid) == SKIPPED


# -- the sweep: a child's pause whose bus message nobody saw; a parent resumed while its child paused -----

class SweptExecutions(FakeExecutions):
    """The REST port's listing of pausing/paused action-chain and orquesta children, over FakeSt2."""

    def __init__(self, st2: FakeSt2) -> None:
        super().__init__([])
        self.st2 = st2

    def unfinished_workflows(self):
        return [dict(d, context={"mistral": {"execution_id": "m-" + d["id"]}}) for d in self.st2.docs.values()
                if d["runner"]["name"] == "mistral-v2" and d["status"] not in ("succeeded", "failed")]

    def paused_children(self, parent_ids):
        return [dict(d) for d in self.st2.docs.values() if d["runner"]["name"] in ("action-chain", "orquesta")
                and d["status"] in ("pausing", "paused") and d["parent"] in parent_ids]


def _logged(doc, *entries):
    doc["log"] = [{"timestamp": "2026-12-01T20:00:%02d.000000Z" % second, "status": status}
                  for second, status in entries]
    return doc


def test_the_sweep_pauses_a_running_parent_whose_chain_paused_while_no_instance_ran():
    st2 = FakeSt2()
    st2.add("wf")
    st2.add("chain", runner="action-chain", parent="wf", status="paused")  # its bus messages: missed
    st2.add("orq", runner="orquesta", parent="other", status="paused")  # not a child of a running workflow
    eng = SyncEngine(SweptExecutions(st2), querier_factory=FakeQuerier, handler_factory=lambda: FakeHandler,
                     st2_executions=st2)
    assert eng.reconcile_once()["paused_up"] == 1
    assert st2.requests == [("pause", "wf")] and st2.docs["wf"]["status"] == "pausing"
    assert eng.reconcile_once()["paused_up"] == 0  # once: the parent is no longer running
    assert st2.requests == [("pause", "wf")]


def test_the_sweep_leaves_a_parent_alone_whose_chain_is_running_or_which_is_paused():
    st2 = FakeSt2()
    st2.add("wf")
    st2.add("chain", runner="action-chain", parent="wf", status="running")
    st2.add("wf2", status="paused")
    st2.add("chain2", runner="action-chain", parent="wf2", status="paused")
    eng = SyncEngine(SweptExecutions(st2), querier_factory=FakeQuerier, handler_factory=lambda: FakeHandler,
                     st2_executions=st2)
    assert eng.reconcile_once()["paused_up"] == 0
    assert st2.requests == []


def test_a_parent_resumed_while_its_chain_was_pausing_is_not_paused_again_the_chain_resumes():
    """StackStorm refuses to resume a `pausing` chain, so the parent's resume cascade leaves it
    behind; once it is paused it is resumed (the user's last word), the parent keeps running."""
    st2 = FakeSt2()
    _logged(st2.add("wf"), (1, "running"), (2, "pausing"), (4, "paused"), (5, "resuming"), (6, "running"))
    chain = _logged(st2.add("chain", runner="action-chain", parent="wf", status="pausing"), (1, "running"),
                    (3, "pausing"))
    eng = pausing_engine(st2)
    assert eng.on_update(dict(chain)) == ALREADY  # still pausing: nothing yet
    assert st2.requests == []
    st2.docs["chain"]["status"] = "paused"
    st2.docs["chain"]["log"].append({"timestamp": "2026-12-01T20:00:07.000000Z", "status": "paused"})
    assert eng.on_update(dict(st2.docs["chain"])) == RESUMED
    assert st2.requests == [("resume", "chain")] and st2.docs["wf"]["status"] == "running"


def test_a_chain_paused_after_its_parent_was_resumed_pauses_the_parent():
    st2 = FakeSt2()
    _logged(st2.add("wf"), (1, "running"), (2, "pausing"), (3, "paused"), (4, "resuming"), (5, "running"))
    chain = _logged(st2.add("chain", runner="action-chain", parent="wf", status="paused"), (5, "running"),
                    (8, "pausing"), (9, "paused"))
    assert pausing_engine(st2).on_update(dict(chain)) == APPLIED
    assert st2.requests == [("pause", "wf")]


def test_rest_paused_children_lists_chain_and_orquesta_children_of_the_given_parents():
    pages = {("action-chain", "paused"): [{"id": "c1", "parent": "wf1", "status": "paused"},
                                          {"id": "c2", "parent": "wfX", "status": "paused"}],
             ("orquesta", "pausing"): [{"id": "o1", "context": {"parent": {"execution_id": "wf2"}},
                                        "status": "pausing"}]}
    rest = RestExecutions("http://st2/api/v1", api_key="k", conf=Opts())
    asked = []

    def listing(**params):
        asked.append((params["runner"], params["status"]))
        return pages.get((params["runner"], params["status"]), [])

    rest._list = listing
    assert [d["id"] for d in rest.paused_children(["wf1", "wf2"])] == ["c1", "o1"]
    assert sorted(asked) == sorted((r, s) for r in ("action-chain", "orquesta") for s in ("pausing", "paused"))


@pytest.mark.parametrize("parent_status,expected,paused", [
    ("pausing", APPLIED, ["ae-ask"]), ("paused", APPLIED, ["ae-ask"]),
    ("running", ALREADY, []),  # StackStorm's inquirer asks a running parent to pause; its runner does it
])
def test_a_pending_child_under_a_pausing_or_paused_workflow_gets_its_mistral_task_paused(
        parent_status, expected, paused):
    st2 = FakeSt2()
    st2.add("wf1", status=parent_status)
    asked: List[str] = []
    eng = SyncEngine(FakeExecutions([]), None, querier_factory=FakeQuerier, handler_factory=lambda: FakeHandler,
                     st2_executions=st2, pend_handler=lambda url: asked.append(url.rsplit("/", 1)[1]) is None)
    assert eng.on_update(child("ask", status="pending"), complete=True) == expected
    assert asked == paused and FakeHandler.calls == []
    assert eng.pended == {expected: 1}


def test_pend_failures_are_counted_not_raised_and_other_pending_executions_ignored():
    st2 = FakeSt2()
    st2.add("wf1", status="paused")
    st2.down = True
    eng = SyncEngine(FakeExecutions([]), None, querier_factory=FakeQuerier, handler_factory=lambda: FakeHandler,
                     st2_executions=st2, pend_handler=lambda url: True)
    assert eng.on_update(child("ask", status="pending"), complete=True) == FAILED
    not_mistral = dict(child("ask2", status="pending"), liveaction={})
    assert eng.on_update(not_mistral, complete=True) is None
