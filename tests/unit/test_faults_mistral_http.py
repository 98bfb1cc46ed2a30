"""Mistral answering badly (5xx, 4xx, malformed JSON, dropped connections) through a tiny real HTTP server:
clear St2MistralError subclasses, bounded retries, the querier's grace period; concurrent definition upload."""
from __future__ import annotations

import http.server
import json
import threading
import types
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from mistral_v2 import definitions
from mistral_v2.exceptions import (
    MistralAPIError,
    MistralUnreachableError,
    St2MistralError,
    WorkflowNotFoundError,
)
from mistral_v2.mistral_api import MistralAPI
from mistral_v2.query import MistralResultsQuerier, UnreachableTracker

EXECUTION = {"id": "ex-1", "workflow_name": "wf", "state": "RUNNING", "description": "st2:abc",
             "created_at": "2026-11-24 10:00:00", "updated_at": "2026-11-24 10:00:00", "input": "{}",
             "output": "{}", "params": "{}", "state_info": None}


class FakeMistral:
    """Answers each request with the next scripted (status, body) and records the paths asked for."""

    def __init__(self) -> None:
        self.script: List[Tuple[int, Any]] = []
        self.default: Tuple[int, Any] = (500, "boom")
        self.paths: List[str] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                fake.paths.append("%s %s" % (self.command, self.path))
                status, body = fake.script.pop(0) if fake.script else fake.default
                if status == 0:  # drop the connection without an answer
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/v2" % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    server = FakeMistral()
    yield server
    server.close()


def _conf(**overrides: Any) -> Any:
    values: Dict[str, Any] = dict(
        v2_base_url="http://127.0.0.1:9/v2", keystone_auth_url=None, keystone_username=None,
        keystone_password=None, keystone_project_name=None, cacert=None, insecure=False,
        retry_attempts=3, retry_exp_msec=1, retry_exp_max_msec=2, retry_stop_max_msec=5000,
        jitter_interval=0, request_timeout=5.0, query_batch_size=100, unreachable_grace_period=60,
        max_result_size=1048576, enable_polling=False, api_url="http://127.0.0.1:9/api/v1")
    values.update(overrides)
    return types.SimpleNamespace(**values)


def _api(fake: FakeMistral, **overrides: Any) -> MistralAPI:
    return MistralAPI(url=fake.url, conf=_conf(**overrides), sleep=lambda s: None)


def test_5xx_then_success_is_retried(fake):
    fake.script = [(502, "bad gateway"), (503, {"faultstring": "busy"}), (200, EXECUTION)]
    assert _api(fake).get_execution("ex-1")["state"] == "RUNNING"
    assert len(fake.paths) == 3


def test_persistent_5xx_gives_up_after_retry_attempts_with_a_clear_error(fake):
    fake.default = (500, {"faultstring": "database is locked"})
    with pytest.raises(MistralUnreachableError) as err:
        _api(fake, retry_attempts=4).get_execution("ex-1")
    assert len(fake.paths) == 4
    assert "Mistral unreachable at %s" % fake.url in str(err.value) and "4 attempt" in str(err.value)


def test_dropped_connection_is_retried_then_reported_unreachable(fake):
    fake.script = [(0, None), (200, EXECUTION)]
    assert _api(fake).get_execution("ex-1")["id"] == "ex-1"
    fake.default = (0, None)
    with pytest.raises(MistralUnreachableError):
        _api(fake, retry_attempts=2).get_execution("ex-1")


@pytest.mark.parametrize("status, error", [(400, MistralAPIError), (403, MistralAPIError),
                                           (409, MistralAPIError), (404, WorkflowNotFoundError)])
def test_4xx_is_not_retried_and_names_the_call(fake, status, error):
    fake.default = (status, {"faultstring": "refused for a reason"})
    with pytest.raises(error) as err:
        _api(fake).get_execution("ex-1")
    assert len(fake.paths) == 1
    assert "refused for a reason" in str(err.value) and 'execution "ex-1"' in str(err.value).replace("'", '"') \
        or "ex-1" in str(err.value)
    assert err.value.status_code == status


@pytest.mark.parametrize("body", ["{not json", "<html>proxy error</html>", ""])
def test_malformed_json_is_a_clear_mistral_error_not_a_traceback(fake, body):
    fake.default = (200, body)
    with pytest.raises(St2MistralError) as err:
        _api(fake).get_execution("ex-1")
    assert isinstance(err.value, (MistralAPIError, MistralUnreachableError))
    assert "execution" in str(err.value).lower()


def test_malformed_json_in_a_listing_is_a_clear_error(fake):
    fake.default = (200, '{"executions": [')
    with pytest.raises(St2MistralError):
        _api(fake).find_executions_by_description(["st2:abc"])


def test_querier_keeps_status_within_grace_then_fails_with_since(fake):
    fake.default = (503, "down")
    now = [1000.0]
    tracker = UnreachableTracker(clock=lambda: now[0])
    conf = _conf(retry_attempts=1, unreachable_grace_period=30)
    querier = MistralResultsQuerier(api=MistralAPI(url=fake.url, conf=conf, sleep=lambda s: None), conf=conf,
                                    tracker=tracker)
    items = [("st2-a", {"execution_id": "ex-1"}), ("st2-b", {"execution_id": "ex-2"})]
    with pytest.raises(MistralUnreachableError):
        querier.query_many(items)
    now[0] += 29
    with pytest.raises(MistralUnreachableError):
        querier.query_many(items)
    now[0] += 2
    answer = querier.query_many(items)
    assert set(answer) == {"st2-a", "st2-b"}
    for status, result in answer.values():
        assert status == "failed"
        assert result["error"].startswith("Mistral unreachable since 1970-01-01T00:16:40")


def test_querier_recovery_resets_the_grace_clock(fake):
    now = [0.0]
    tracker = UnreachableTracker(clock=lambda: now[0])
    conf = _conf(retry_attempts=1, unreachable_grace_period=30)
    querier = MistralResultsQuerier(api=MistralAPI(url=fake.url, conf=conf, sleep=lambda s: None), conf=conf,
                                    tracker=tracker)
    fake.default = (503, "down")
    with pytest.raises(MistralUnreachableError):
        querier.query_many([("st2-a", {"execution_id": "ex-1"})])
    fake.script = [(200, {"executions": []})]
    fake.default = (404, {"faultstring": "Execution not found"})  # Mistral answers again; ex-1 was deleted
    status, result = querier.query_many([("st2-a", {"execution_id": "ex-1"})])["st2-a"]
    assert status == "failed" and "no longer exists" in result["error"]
    fake.default = (503, "down")
    now[0] += 100
    with pytest.raises(MistralUnreachableError):  # a new outage: a new grace period, not "failed"
        querier.query_many([("st2-a", {"execution_id": "ex-1"})])


class _RacingApi:
    """Mistral where another process created the workflow between our GET (404) and our POST (409)."""

    url = "http://fake/v2"

    def __init__(self) -> None:
        self.calls: List[str] = []
        self.lock = threading.Lock()
        self.exists = False

    def get_workflow(self, name: str) -> Dict[str, Any]:
        self.calls.append("get")
        if not self.exists:
            raise WorkflowNotFoundError("not found", 404)
        return {"definition": "old"}

    def delete_workbook(self, name: str) -> None:
        raise WorkflowNotFoundError("not found", 404)

    def create_workflow(self, text: str) -> None:
        self.calls.append("create")
        raise MistralAPIError("Duplicate entry for WorkflowDefinition", 409)

    def update_workflow(self, text: str) -> None:
        self.calls.append("update")


def test_definition_created_concurrently_elsewhere_is_updated_not_failed():
    api = _RacingApi()
    prepared = definitions.PreparedDefinition(**_prepared_fields("wf.race"))
    assert definitions.sync(api, prepared) is True
    assert api.calls == ["get", "create", "update"]


def test_concurrent_starts_of_one_workflow_upload_it_once():
    created: List[str] = []
    gate = threading.Barrier(8)

    class SlowApi(_RacingApi):
        def create_workflow(self, text: str) -> None:
            with self.lock:
                if self.exists:
                    raise MistralAPIError("Duplicate entry", 409)
                self.exists = True
            created.append(text)

        def get_workflow(self, name: str) -> Dict[str, Any]:
            if not self.exists:
                raise WorkflowNotFoundError("not found", 404)
            return {"definition": created[0]}

    api = SlowApi()
    prepared = definitions.PreparedDefinition(**_prepared_fields("wf.concurrent"))
    errors: List[BaseException] = []

    def start() -> None:
        gate.wait()
        try:
            definitions.sync(api, prepared)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == [] and len(created) == 1


def _prepared_fields(name: str) -> Dict[str, Any]:
    text = "version: '2.0'\n%s:\n  tasks:\n    t:\n      action: std.noop\n" % name
    return {"kind": "workflow", "name": name, "workflow_name": name, "text": text}
