"""The Mistral-side plugin on a REAL Mistral 23: st2.action, the st2 publisher, st2kv, with-items fix.

A small fake StackStorm API (http.server on 127.0.0.1:0) records what the plugin sends and, like
StackStorm, completes each child by PUTting to the child's callback URL on Mistral.
"""
from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from unpatched import mistral_without

pytestmark = pytest.mark.integration

TOKEN = "tok-" + uuid.uuid4().hex  # must never show up in anything the plugin stores or pushes
DONE = {"SUCCESS", "ERROR", "CANCELLED"}


class FakeSt2:
    """Records POST /api/v1/executions and PUT /api/v1/executions/<id>; serves GET /api/v1/keys."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.post_attempts: List[Dict[str, Any]] = []
        self.children: Dict[str, Dict[str, Any]] = {}          # child id -> POST body
        self.by_action_ex: Dict[str, str] = {}                 # mistral action ex id -> child id
        self.puts: List[Tuple[str, Dict[str, Any]]] = []
        self.headers: List[Dict[str, str]] = []
        self.keys: Dict[Tuple[str, str], Any] = {}
        self.key_requests: List[Dict[str, Any]] = []
        self.drop_next_posts = 0
        # ref -> fn(parameters, attempt_no) -> (mistral state, result)
        self.outcomes: Dict[str, Callable[[Dict[str, Any], int], Tuple[str, Any]]] = {}
        self.calls_per_item: Dict[Any, int] = {}
        self.completions: List[Tuple[str, int]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.api_url = "http://127.0.0.1:%d/api/v1" % self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def puts_for(self, st2_id: str) -> List[Dict[str, Any]]:
        with self.lock:
            return [body for ex_id, body in self.puts if ex_id == st2_id]

    def _complete(self, child_id: str, body: Dict[str, Any]) -> None:
        params = body.get("parameters") or {}
        key = (body["action"], json.dumps(params, sort_keys=True))
        with self.lock:
            self.calls_per_item[key] = self.calls_per_item.get(key, 0) + 1
            attempt = self.calls_per_item[key]
        outcome = self.outcomes.get(body["action"], lambda p, n: ("SUCCESS", {"ok": True}))
        state, result = outcome(params, attempt)
        resp = requests.put(body["callback"]["url"],
                            json={"state": state, "output": result}, timeout=30)
        with self.lock:
            self.completions.append((child_id, resp.status_code))

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"null")

            def do_POST(self) -> None:
                body = self._body()
                with fake.lock:
                    fake.headers.append(dict(self.headers))
                    fake.post_attempts.append(body)
                    ae_id = body["context"]["mistral"]["action_execution_id"]
                    existing = fake.by_action_ex.get(ae_id)
                    if existing is None:
                        child_id = uuid.uuid4().hex
                        fake.children[child_id] = body
                        fake.by_action_ex[ae_id] = child_id
                    drop = fake.drop_next_posts > 0
                    if drop:
                        fake.drop_next_posts -= 1
                if existing is None:
                    threading.Thread(target=fake._complete, args=(child_id, body), daemon=True).start()
                if drop:  # the child exists, but the caller never hears about it
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._reply(201 if existing is None else 200,
                            {"id": existing or child_id, "status": "requested"})

            def do_PUT(self) -> None:
                body = self._body()
                ex_id = self.path.rstrip("/").rsplit("/", 1)[-1]
                with fake.lock:
                    fake.headers.append(dict(self.headers))
                    fake.puts.append((ex_id, body))
                self._reply(200, {"id": ex_id, **body})

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                name = url.path.rsplit("/", 1)[-1]
                with fake.lock:
                    fake.headers.append(dict(self.headers))
                    fake.key_requests.append({"name": name, **query})
                    value = fake.keys.get((query.get("scope", "system"), name))
                if value is None:
                    self._reply(404, {"faultstring": "The key %s does not exist" % name})
                else:
                    self._reply(200, {"name": name, "value": value})

        return Handler


def st2_env(fake: FakeSt2, st2_id: str) -> Dict[str, Any]:
    """The env the mistral-v2 runner gives an execution (docs/architecture.md)."""
    return {
        "st2_execution_id": st2_id,
        "st2_liveaction_id": st2_id,
        "st2_action_api_url": fake.api_url,
        "__actions": {"st2.action": {"st2_context": {
            "api_url": fake.api_url,
            "endpoint": fake.api_url + "/actionexecutions",
            "parent": {"execution_id": st2_id, "user": "stanley"},
            "notify": {},
            "skip_notify_tasks": [],
            "auth_token": TOKEN,
        }}},
    }


# One task calling core.ok through st2.action (% the workflow name).
ONLY_OK = """
version: '2.0'
%s:
  tasks:
    only:
      action: st2.action
      input:
        ref: core.ok
"""


def wait_until(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for %s" % what)
        time.sleep(0.1)


@pytest.fixture
def fake_st2():
    fake = FakeSt2()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def client(mistral_server):
    from mistralclient.api import client as mistral_client

    return mistral_client.client(mistral_url=mistral_server.url)


def start(client, definition: str, env: Dict[str, Any], wf_input: Optional[Dict] = None):
    wf = client.workflows.create(definition)[0]
    return client.executions.create(wf.name, workflow_input=wf_input or {}, env=env,
                                    notify=[{"type": "st2"}])


def unique(name: str) -> str:
    return "%s_%s" % (name, uuid.uuid4().hex[:8])


def finished(client, ex_id: str, what: str = "execution to finish") -> Any:
    """The Mistral execution once SUCCESS, ERROR or CANCELLED."""
    return wait_until(what, lambda: (lambda e: e if e.state in DONE else None)(client.executions.get(ex_id)))


def tasks_of(client, ex_id: str) -> Dict[str, Any]:
    return {t.name: client.tasks.get(t.id) for t in client.tasks.list(workflow_execution_id=ex_id)}


# --------------------------------------------------------------------------- st2.action + publisher

def test_two_st2_actions_one_fails_results_land_in_mistral_and_st2(client, fake_st2,
                                                                   mistral_server):
    fake_st2.outcomes["core.bad"] = lambda p, n: ("ERROR", {"stderr": "boom", "exit_code": 1})
    fake_st2.outcomes["core.ok"] = lambda p, n: ("SUCCESS", {"stdout": p.get("cmd")})
    name = unique("st2_two")
    definition = """
version: '2.0'
%s:
  tasks:
    good:
      action: st2.action
      input:
        ref: core.ok
        parameters:
          cmd: echo hi
    bad:
      action: st2.action
      input:
        ref: core.bad
        timeout: 30
""" % name
    st2_id = "st2-" + uuid.uuid4().hex[:8]
    ex = start(client, definition, st2_env(fake_st2, st2_id))

    final = finished(client, ex.id)
    assert final.state == "ERROR"
    tasks = tasks_of(client, ex.id)
    assert {n: t.state for n, t in tasks.items()} == {"good": "SUCCESS", "bad": "ERROR"}
    assert json.loads(tasks["good"].result) == {"stdout": "echo hi"}
    assert "boom" in tasks["bad"].state_info

    # What StackStorm received: one child per task, linked to the parent and to Mistral.
    children = sorted(fake_st2.children.values(), key=lambda b: b["action"])
    assert [c["action"] for c in children] == ["core.bad", "core.ok"]
    bad, good = children
    assert good["parameters"] == {"cmd": "echo hi"}
    assert bad["parameters"] == {"timeout": 30}
    actions = {name: client.action_executions.list(task_execution_id=t.id)[0]
               for name, t in tasks.items()}
    for child, task in ((good, "good"), (bad, "bad")):
        assert child["context"]["parent"]["execution_id"] == st2_id
        m = child["context"]["mistral"]
        assert m["task_name"] == task
        assert m["workflow_execution_id"] == ex.id
        assert m["root_execution_id"] == ex.id
        assert m["task_execution_id"] == tasks[task].id
        assert m["action_execution_id"] == actions[task].id
        assert child["callback"] == {
            "source": "mistral_v2",
            "url": "%s/action_executions/%s" % (mistral_server.url, actions[task].id)}
    assert all(h.get("X-Auth-Token") == TOKEN for h in fake_st2.headers)

    # The publisher pushed the final status and result to StackStorm.
    last = wait_until("the failed push", lambda: [b for b in fake_st2.puts_for(st2_id)
                                                  if b["status"] == "failed"])[-1]
    result_tasks = {t["name"]: t for t in last["result"]["tasks"]}
    assert result_tasks["good"]["state"] == "SUCCESS"
    assert result_tasks["good"]["result"] == {"stdout": "echo hi"}
    assert result_tasks["bad"]["state"] == "ERROR"
    assert last["result"]["extra"]["state"] == "ERROR" and last["result"]["extra"]["state_info"]
    assert TOKEN not in json.dumps(fake_st2.puts)


def test_post_retried_after_dropped_connection_creates_one_child(client, fake_st2):
    fake_st2.drop_next_posts = 1
    name = unique("st2_retry")
    definition = ONLY_OK % name
    st2_id = "st2-" + uuid.uuid4().hex[:8]
    ex = start(client, definition, st2_env(fake_st2, st2_id))
    final = finished(client, ex.id)
    assert final.state == "SUCCESS", tasks_of(client, ex.id)["only"].state_info
    # The child may complete the task before the retried POST goes out; wait for the retry.
    wait_until("the retried POST", lambda: len(fake_st2.post_attempts) >= 2)
    assert len(fake_st2.post_attempts) == 2          # the dropped POST was sent again ...
    assert len(fake_st2.children) == 1               # ... and StackStorm's dedupe kept one child
    assert [code for _, code in fake_st2.completions] == [200]
    pushed = wait_until("the succeeded push", lambda: [b for b in fake_st2.puts_for(st2_id)
                                                       if b["status"] == "succeeded"])
    assert pushed[-1]["result"]["tasks"][0]["name"] == "only"


def test_st2_action_without_st2_context_fails_the_task_clearly(client, fake_st2):
    name = unique("st2_noctx")
    definition = ONLY_OK % name
    ex = client.executions.create(client.workflows.create(definition)[0].name, workflow_input={})
    final = finished(client, ex.id)
    assert final.state == "ERROR"
    task = tasks_of(client, ex.id)["only"]
    assert task.state == "ERROR"
    assert "st2_context" in task.state_info
    assert fake_st2.post_attempts == []


def test_publisher_pushes_pausing_then_paused_when_last_task_finishes(client, fake_st2):
    release = threading.Event()

    def slow(params, attempt):
        release.wait(60)
        return "SUCCESS", {"slow": True}

    fake_st2.outcomes["core.slow"] = slow
    name = unique("st2_pause")
    definition = """
version: '2.0'
%s:
  tasks:
    slow:
      action: st2.action
      input:
        ref: core.slow
      on-success: [after]
    after:
      action: std.noop
""" % name
    st2_id = "st2-" + uuid.uuid4().hex[:8]
    ex = start(client, definition, st2_env(fake_st2, st2_id))
    wait_until("the child to start", lambda: fake_st2.children)
    client.executions.update(ex.id, "PAUSED")
    wait_until("pausing push", lambda: [b for b in fake_st2.puts_for(st2_id) if b["status"] == "pausing"])
    release.set()
    wait_until("paused push", lambda: [b for b in fake_st2.puts_for(st2_id) if b["status"] == "paused"])
    assert client.executions.get(ex.id).state == "PAUSED"
    assert "after" not in tasks_of(client, ex.id)
    client.executions.update(ex.id, "RUNNING")
    wait_until("succeeded push", lambda: [b for b in fake_st2.puts_for(st2_id)
                                          if b["status"] == "succeeded"])
    statuses = [b["status"] for b in fake_st2.puts_for(st2_id)]
    assert statuses.index("pausing") < statuses.index("paused") < statuses.index("succeeded")


def test_subworkflow_pause_reaches_st2_as_pause_of_the_root(client, fake_st2):
    """Mistral 23 pauses the root with its subworkflow; the publisher reports the root paused."""
    name = unique("st2_wb")
    workbook = """
version: '2.0'
name: %s
workflows:
  main:
    tasks:
      call_sub:
        workflow: sub
  sub:
    tasks:
      wait_here:
        action: std.async_noop
""" % name
    client.workbooks.create(workbook)
    st2_id = "st2-" + uuid.uuid4().hex[:8]
    ex = client.executions.create(name + ".main", workflow_input={},
                                  env=st2_env(fake_st2, st2_id), notify=[{"type": "st2"}])
    sub = wait_until("the subworkflow", lambda: [e for e in client.executions.list(
        root_execution_id=ex.id) if e.id != ex.id and e.state == "RUNNING"])[0]
    wait_until("the async task", lambda: "wait_here" in tasks_of(client, sub.id))
    client.executions.update(sub.id, "PAUSED")
    pushed = wait_until("a pause pushed for the root", lambda: [
        b for b in fake_st2.puts_for(st2_id) if b["status"] in ("pausing", "paused")])
    # The async task still runs, so the root is reported pausing (not yet paused).
    assert pushed[0]["status"] == "pausing"
    assert client.executions.get(ex.id).state == "PAUSED"
    client.executions.update(ex.id, "CANCELLED")


# --------------------------------------------------------------------------- st2kv

def test_st2kv_in_yaql_and_jinja(client, fake_st2):
    fake_st2.keys[("system", "k1")] = "v1"
    fake_st2.keys[("user", "k2")] = "secret-v2"
    name = unique("st2_kv")
    definition = """
version: '2.0'
%s:
  output:
    a: <%% $.a %%>
    b: <%% $.b %%>
    c: <%% $.c %%>
  tasks:
    read:
      action: std.noop
      publish:
        a: <%% st2kv('system.k1') %%>
        b: "{{ st2kv('user.k2', decrypt=true) }}"
        c: <%% st2kv('missing', default => 7) %%>
""" % name
    ex = start(client, definition, st2_env(fake_st2, "st2-" + uuid.uuid4().hex[:8]))
    final = finished(client, ex.id)
    assert final.state == "SUCCESS", final.state_info
    assert json.loads(final.output) == {"a": "v1", "b": "secret-v2", "c": 7}
    by_name = {r["name"]: r for r in fake_st2.key_requests}
    assert by_name["k1"]["scope"] == "system" and by_name["k1"]["decrypt"] == "false"
    assert by_name["k2"]["scope"] == "user" and by_name["k2"]["decrypt"] == "true"
    assert all(h.get("X-Auth-Token") == TOKEN for h in fake_st2.headers)


def test_st2kv_missing_key_fails_with_clear_error(client, fake_st2):
    name = unique("st2_kv_missing")
    definition = """
version: '2.0'
%s:
  tasks:
    read:
      action: std.noop
      publish:
        a: <%% st2kv('system.nope') %%>
""" % name
    ex = start(client, definition, st2_env(fake_st2, "st2-" + uuid.uuid4().hex[:8]))
    final = finished(client, ex.id)
    assert final.state == "ERROR"
    info = tasks_of(client, ex.id)["read"].state_info
    assert "'nope' does not exist" in info
    assert TOKEN not in (info or "") and TOKEN not in (final.state_info or "")


# --------------------------------------------------------------------------- with-items reset=False

WITH_ITEMS = """
version: '2.0'
%s:
  tasks:
    each:
      with-items: x in <%% [1, 2, 3, 4, 5] %%>
      concurrency: %s
      action: st2.action
      input:
        ref: core.flaky
        parameters:
          x: <%% $.x %%>
"""


def _flaky(params, attempt):
    if params["x"] in (2, 4) and attempt == 1:
        return "ERROR", {"failed_item": params["x"]}
    return "SUCCESS", {"item": params["x"]}


def _run_with_items_then_rerun(client, fake, concurrency: int = 0):
    fake.outcomes["core.flaky"] = _flaky
    definition = WITH_ITEMS % (unique("st2_items"), concurrency)
    ex = start(client, definition, st2_env(fake, "st2-" + uuid.uuid4().hex[:8]))
    wait_until("first run to fail",
               lambda: client.executions.get(ex.id).state == "ERROR")
    task = tasks_of(client, ex.id)["each"]
    assert task.state == "ERROR"
    client.tasks.rerun(task.id, reset=False)
    return ex, task


def _calls(fake) -> Dict[int, int]:
    return {json.loads(k[1])["x"]: n for k, n in fake.calls_per_item.items()}


def _all_actions_settled(client, task_id: str, expected: int):
    actions = client.action_executions.list(task_execution_id=task_id)
    if len(actions) == expected and all(a.state in DONE for a in actions):
        return actions
    return None


@pytest.mark.parametrize("concurrency", [0, 1])
def test_with_items_rerun_without_reset_reruns_only_failed_items(client, fake_st2, concurrency):
    ex, task = _run_with_items_then_rerun(client, fake_st2, concurrency)
    final = finished(client, ex.id, "rerun to finish")
    assert final.state == "SUCCESS", final.state_info
    assert client.tasks.get(task.id).state == "SUCCESS"
    assert _calls(fake_st2) == {1: 1, 2: 2, 3: 1, 4: 2, 5: 1}
    assert sorted(json.loads(client.tasks.get(task.id).result), key=lambda r: r["item"]) == [
        {"item": i} for i in range(1, 6)]


@pytest.fixture(scope="module")
def unpatched_mistral():
    """A second real Mistral started with the plugin's with-items fix switched off."""
    with mistral_without("ST2MISTRAL_WITH_ITEMS_FIX") as info:
        yield info


def test_upstream_bug_reproduced_without_the_fix(unpatched_mistral, fake_st2):
    from mistralclient.api import client as mistral_client

    plain = mistral_client.client(mistral_url=unpatched_mistral.url)
    ex, task = _run_with_items_then_rerun(plain, fake_st2)
    # 5 first-run actions + re-runs of items 2 and 4 AND 5 (the bug), all completed and accepted.
    actions = wait_until("re-run actions to settle", lambda: _all_actions_settled(plain, task.id, 8))
    assert _calls(fake_st2) == {1: 1, 2: 2, 3: 1, 4: 2, 5: 2}
    assert sum(1 for a in actions if a.accepted) == 6
    # Every item succeeded, yet the task never completes (6 accepted executions for 5 items).
    assert plain.tasks.get(task.id).state == "RUNNING"
    assert plain.executions.get(ex.id).state == "RUNNING"
    plain.executions.update(ex.id, "CANCELLED")
