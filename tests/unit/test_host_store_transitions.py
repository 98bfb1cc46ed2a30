"""Unit tests of the host's SQLite store and the execution status transitions."""
from __future__ import annotations

import pytest

from mistral_v2.exceptions import InvalidOperationError
from st2mistral_local import ids, transitions
from st2mistral_local.store import Store


def _doc(ex_id=None, status="requested", parent=None, action="core.noop", runner="noop", context=None,
         callback=None, start=None):
    ex_id = ex_id or ids.new_id()
    return {
        "id": ex_id, "action": {"ref": action}, "runner": {"name": runner}, "status": status,
        "start_timestamp": start or ids.now_iso(), "end_timestamp": None, "parameters": {},
        "context": context or {"user": "st2admin"}, "result": {}, "parent": parent,
        "callback": callback or {}, "callback_state": "pending" if callback else None, "log": [],
    }


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "host.sqlite"))
    yield s
    s.close()


def test_ids_look_like_object_ids_and_are_unique():
    made = {ids.new_id() for _ in range(1000)}
    assert len(made) == 1000
    assert all(ids.is_id(i) for i in made)
    assert not ids.is_id("core.local")


def test_execution_round_trip_and_update(store):
    doc = store.insert_execution(_doc())
    assert store.get_execution(doc["id"])["status"] == "requested"

    def mutate(d):
        d["status"] = "running"
        return d

    assert store.update_execution(doc["id"], mutate)["status"] == "running"
    assert store.get_execution(doc["id"])["status"] == "running"
    assert store.update_execution("f" * 24, mutate) is None


def test_child_post_is_idempotent_by_mistral_action_execution_id(store):
    parent = store.insert_execution(_doc())
    ctx = {"user": "u", "mistral": {"action_execution_id": "ae-1"}, "parent": {"execution_id": parent["id"]}}
    first = store.insert_execution(_doc(parent=parent["id"], context=ctx))
    second = store.insert_execution(_doc(parent=parent["id"], context=ctx))
    assert second["id"] == first["id"]
    assert store.child_ids(parent["id"]) == [first["id"]]


def test_idempotency_key_survives_context_replacement(store):
    ctx = {"user": "u", "mistral": {"action_execution_id": "ae-2"}}
    first = store.insert_execution(_doc(context=ctx))

    def replace(d):
        d["context"]["mistral"] = {"execution_id": "wf-1"}
        return d

    store.update_execution(first["id"], replace)
    assert store.insert_execution(_doc(context=ctx))["id"] == first["id"]


def test_list_filters_sort_paging_and_total(store):
    top = [store.insert_execution(_doc(start="2026-01-01T00:00:0%d.000000Z" % i)) for i in range(5)]
    store.insert_execution(_doc(parent=top[0]["id"], status="running"))
    items, total = store.list_executions(parent="null", limit=2, offset=1)
    assert total == 5
    assert [d["id"] for d in items] == [top[3]["id"], top[2]["id"]]
    items, _ = store.list_executions(parent="null", ascending=True, limit=1)
    assert items[0]["id"] == top[0]["id"]
    running, total = store.list_executions(status="running")
    assert total == 1 and running[0]["parent"] == top[0]["id"]
    assert store.list_executions(statuses_not_in=["requested"])[1] == 1


def test_callback_is_claimed_once(store):
    doc = store.insert_execution(_doc(callback={"source": "mistral_v2", "url": "http://x/v2/action_executions/1"}))
    assert store.claim_callback(doc["id"]) is True
    assert store.claim_callback(doc["id"]) is False
    store.set_callback_state(doc["id"], "failed")
    assert store.claim_callback(doc["id"]) is True
    store.set_callback_state(doc["id"], "applied")
    assert store.claim_callback(doc["id"]) is False
    assert store.get_execution(doc["id"])["callback_state"] == "applied"


def test_interrupted_callbacks_are_retried_after_restart(tmp_path):
    path = str(tmp_path / "host.sqlite")
    s = Store(path)
    doc = s.insert_execution(_doc(callback={"source": "mistral_v2", "url": "u"}))
    s.claim_callback(doc["id"])
    s.close()
    again = Store(path)
    assert again.reset_interrupted_callbacks() == 1
    assert again.claim_callback(doc["id"]) is True


def test_state_survives_reopen(tmp_path):
    path = str(tmp_path / "host.sqlite")
    s = Store(path)
    doc = s.insert_execution(_doc(status="running"))
    s.put_key({"scope": "st2kv.system", "username": "", "name": "k", "value": "v", "secret": False, "id": "1"})
    s.close()
    again = Store(path)
    assert again.get_execution(doc["id"])["status"] == "running"
    assert again.get_key("st2kv.system", "", "k")["value"] == "v"


def test_unopenable_state_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(Exception) as err:
        Store(str(blocker / "sub" / "host.sqlite"))
    assert "Cannot open the host state file" in str(err.value)


@pytest.mark.parametrize("current,new", [
    ("requested", "scheduled"), ("scheduled", "running"), ("running", "pausing"), ("pausing", "paused"),
    ("paused", "resuming"), ("resuming", "running"), ("running", "canceling"), ("canceling", "canceled"),
    ("running", "succeeded"), ("running", "failed"), ("running", "timeout"), ("paused", "canceled"),
    ("running", "running"),
])
def test_allowed_transitions(current, new):
    assert transitions.can_transition(current, new)


@pytest.mark.parametrize("current,new", [
    ("succeeded", "running"), ("failed", "succeeded"), ("canceled", "canceled"), ("requested", "paused"),
    ("canceling", "running"), ("running", "requested"), ("running", "bogus"),
])
def test_refused_transitions(current, new):
    assert not transitions.can_transition(current, new)
    with pytest.raises(InvalidOperationError) as err:
        transitions.check_transition(current, new)
    assert new in str(err.value)
