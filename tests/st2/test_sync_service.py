"""st2mistral-sync on real StackStorm 3.9: child callbacks, reconciliation of lost pushes, restarts,
two instances and Mistral unreachable (the service's own processes, StackStorm's bus and Redis)."""
from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Dict, Iterator, List

import pytest
import requests

from stacks.sync_service import SyncService, new_group

pytestmark = [pytest.mark.st2, pytest.mark.integration]

FINAL = ("succeeded", "failed", "canceled", "timeout", "abandoned")


def output_of(result: Dict[str, Any]) -> Dict[str, Any]:
    """The workflow output keys of a StackStorm-shaped result (without `extra` and `tasks`)."""
    return {k: v for k, v in result.items() if k not in ("extra", "tasks")}


def start(stack: Any, ref: str, **params: Any) -> str:
    resp = requests.post("%s/executions" % stack.api_url, headers=stack.headers(), timeout=30,
                         json={"action": ref, "parameters": params})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def children_of(stack: Any, ex_id: str) -> List[Dict[str, Any]]:
    resp = requests.get("%s/executions" % stack.api_url, headers=stack.headers(), timeout=30,
                        params={"parent": ex_id})
    resp.raise_for_status()
    return resp.json()


def assert_once_each(services: List[SyncService], child_ids: List[str]) -> None:
    """Every child's callback applied to Mistral exactly once, over all instances and restarts."""
    total: Dict[str, int] = {}
    for service in services:
        for ex_id, n in service.applied().items():
            total[ex_id] = total.get(ex_id, 0) + n
    assert {c: total.get(c, 0) for c in child_ids} == {c: 1 for c in child_ids}


def handlers_of(services: List[SyncService], ex_id: str, timeout: float = 10) -> List[str]:
    """Names of the instances that logged writing the final status of `ex_id` (the log line follows
    the PUT, so wait a moment for it)."""
    line = "execution %s: running -> succeeded" % ex_id
    deadline = time.monotonic() + timeout
    while True:
        names = [s.name for s in services if line in s.all_text()]
        if names or time.monotonic() > deadline:
            return names
        time.sleep(0.1)


def wait_status_running_child(stack: Any, ex_id: str, timeout: float = 60) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = children_of(stack, ex_id)
        if kids and kids[0]["status"] == "running":
            return kids[0]
        time.sleep(0.1)
    raise AssertionError("no running child of %s in %ss" % (ex_id, timeout))


# -- on the tier's shared StackStorm (push on; the fixture runs one st2mistral-sync) ----------------


def test_workflow_whose_tasks_call_stackstorm_actions_completes(st2_stack):
    ex_id = start(st2_stack, "sync_tests.children", word="st2")
    doc = st2_stack.wait_for_status(ex_id, FINAL, timeout=120)
    assert doc["status"] == "succeeded", json.dumps(doc["result"])[:3000]
    assert output_of(doc["result"]) == {"said": "child-st2", "second_ok": True}
    tasks = {t["name"]: t for t in doc["result"]["tasks"]}
    assert tasks["local"]["result"]["stdout"] == "child-st2" and tasks["second"]["state"] == "SUCCESS"
    kids = children_of(st2_stack, ex_id)
    assert sorted(k["action"]["ref"] for k in kids) == ["core.local", "core.noop"]
    assert_once_each([st2_stack.sync], [k["id"] for k in kids])


# -- a StackStorm whose Mistral pushes nothing ([mistral] enable_polling) ------------------------------


@pytest.fixture(scope="module")
def polling_stack(mistral_server, tmp_path_factory) -> Iterator[Any]:
    """A second real StackStorm on the session's Mistral, with the push off: only st2mistral-sync's
    reconciler brings final statuses (each test starts its own instances)."""
    from stacks.real_st2 import St2Stack

    stack = St2Stack.start(mistral_server.url, tmp_path_factory.mktemp("st2poll"),
                           extra_conf="enable_polling = true\nquery_interval = 1\n")
    yield stack
    stack.stop()


@pytest.fixture
def services() -> Iterator[List[SyncService]]:
    made: List[SyncService] = []
    yield made
    for service in made:
        service.stop()


def test_lost_push_is_reconciled_within_an_interval_with_the_full_result(polling_stack, services):
    service = SyncService(polling_stack, "poll", new_group())
    services.append(service.start())
    plain = start(polling_stack, "sync_tests.plain", seconds=0)
    kids = start(polling_stack, "sync_tests.children", word="poll")
    doc = polling_stack.wait_for_status(plain, FINAL, timeout=60)
    assert doc["status"] == "succeeded"
    assert output_of(doc["result"]) == {"said": "done after 0"}
    assert sorted(t["name"] for t in doc["result"]["tasks"]) == ["echo", "wait"]
    doc = polling_stack.wait_for_status(kids, FINAL, timeout=60)
    assert doc["status"] == "succeeded" and doc["result"]["said"] == "child-poll"
    assert handlers_of([service], plain) == handlers_of([service], kids) == ["poll"]


def test_service_killed_during_a_run_and_restarted_loses_nothing(polling_stack, services):
    service = SyncService(polling_stack, "restart", new_group())
    services.append(service.start())
    ids = [start(polling_stack, "sync_tests.children", word="r%d" % i, seconds=3) for i in range(3)]
    for ex_id in ids:
        wait_status_running_child(polling_stack, ex_id)
    service.kill()  # the children finish while no service runs: nobody tells Mistral
    for ex_id in ids:
        child = children_of(polling_stack, ex_id)[0]
        polling_stack.wait_for_status(child["id"], FINAL, timeout=60)
    assert polling_stack.get(ids[0])["status"] == "running"
    service.start()  # the start-up sweep finds the missed callbacks
    for ex_id in ids:
        doc = polling_stack.wait_for_status(ex_id, FINAL, timeout=90)
        assert doc["status"] == "succeeded", json.dumps(doc["result"])[:2000]
        assert doc["result"]["said"] == "child-" + doc["parameters"]["word"]
    child_ids = [k["id"] for ex_id in ids for k in children_of(polling_stack, ex_id)]
    assert len(child_ids) == 6
    assert_once_each([service], child_ids)


def test_missed_callback_of_a_sub_workflow_task_is_swept_after_a_restart(polling_stack, services):
    """The child's task belongs to a workbook sub-workflow (not listed in the root's result)."""
    service = SyncService(polling_stack, "nested", new_group())
    services.append(service.start())
    ex_id = start(polling_stack, "sync_tests.nested", seconds=3)
    wait_status_running_child(polling_stack, ex_id)
    service.kill()
    child = children_of(polling_stack, ex_id)[0]
    polling_stack.wait_for_status(child["id"], FINAL, timeout=60)
    service.start()
    doc = polling_stack.wait_for_status(ex_id, FINAL, timeout=90)
    assert doc["status"] == "succeeded", json.dumps(doc["result"])[:2000]
    assert "nested" in json.dumps(doc["result"])
    assert_once_each([service], [child["id"]])


def test_two_instances_split_the_work_and_one_takes_over_when_the_other_dies(polling_stack, services):
    group = new_group()
    a = SyncService(polling_stack, "a", group)
    b = SyncService(polling_stack, "b", group)
    services.extend([a.start(), b.start()])
    ids = [start(polling_stack, "sync_tests.children", word="two%d" % i) for i in range(8)]
    for ex_id in ids:
        assert polling_stack.wait_for_status(ex_id, FINAL, timeout=90)["status"] == "succeeded"
    handled = {ex_id: handlers_of([a, b], ex_id) for ex_id in ids}
    assert all(len(names) == 1 for names in handled.values()), handled
    child_ids = [k["id"] for ex_id in ids for k in children_of(polling_stack, ex_id)]
    assert_once_each([a, b], child_ids)
    a.kill()  # no goodbye: b takes a's share once a's membership expires
    more = [start(polling_stack, "sync_tests.children", word="after%d" % i) for i in range(6)]
    for ex_id in more:
        assert polling_stack.wait_for_status(ex_id, FINAL, timeout=90)["status"] == "succeeded"
        assert handlers_of([a, b], ex_id) == ["b"]
    assert_once_each([a, b], [k["id"] for ex_id in more for k in children_of(polling_stack, ex_id)])


# -- Mistral unreachable from the service ---------------------------------------------------------------


class Gate:
    """A TCP forwarder to Mistral that can cut and refuse connections (Mistral 'down' for the service)."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self._open = threading.Event()
        self._conns: set = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def up(self) -> None:
        self._open.set()

    def down(self) -> None:
        """Every new connection is closed at once and the open ones are cut (clients keep them alive)."""
        self._open.clear()
        for conn in list(self._conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._conns.clear()

    def close(self) -> None:
        self.down()
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            if not self._open.is_set():
                conn.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                conn.close()
                continue
            self._conns.update((conn, upstream))
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def gated_service(polling_stack, mistral_server, services):
    gate = Gate(int(mistral_server.url.rsplit(":", 1)[1].split("/")[0]))
    gate.up()
    extra = ("[mistral]\nv2_base_url = http://127.0.0.1:%d/v2\nunreachable_grace_period = 6\n"
             "retry_attempts = 1\nrequest_timeout = 2\n" % gate.port)
    service = SyncService(polling_stack, "gated", new_group(), extra=extra)
    services.append(service.start())
    yield gate, service
    gate.close()


def test_mistral_unreachable_shorter_than_the_grace_period_changes_nothing(polling_stack, gated_service):
    gate, service = gated_service
    gate.down()
    ex_id = start(polling_stack, "sync_tests.plain", seconds=0)
    deadline = time.monotonic() + 30
    while "Mistral unreachable, statuses kept" not in service.all_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert polling_stack.get(ex_id)["status"] == "running"
    gate.up()
    doc = polling_stack.wait_for_status(ex_id, FINAL, timeout=60)
    assert doc["status"] == "succeeded" and output_of(doc["result"]) == {"said": "done after 0"}


def test_mistral_unreachable_longer_than_the_grace_period_fails_clearly(polling_stack, gated_service):
    gate, service = gated_service
    gate.down()
    ex_id = start(polling_stack, "sync_tests.plain", seconds=0)
    doc = polling_stack.wait_for_status(ex_id, FINAL, timeout=90)
    assert doc["status"] == "failed"
    assert doc["result"]["error"].startswith("Mistral unreachable since "), doc["result"]
