"""Unit tests of the plugin's StackStorm calls: st2_api retries/auth, st2.action, st2kv.

A local http.server plays StackStorm; mistral_lib is stubbed when it is not installed (dev venv).
"""
from __future__ import annotations

import json
import logging
import re
import socket
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Tuple
from urllib.parse import parse_qs, urlparse

import pytest
from oslo_config import cfg

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "st2mistral_plugin"))

from plugin_action_stub import forget_action, import_action  # noqa: E402

from mistral_v2.exceptions import ConfigurationError, InvalidParametersError, StackStormAPIError  # noqa: E402
from st2mistral_plugin import config, functions, st2_api  # noqa: E402

TOKEN = "secret-token-123"


class Recorder:
    """Answers each request with the next scripted (status, body) or 'drop'; records requests."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.script: List[Any] = []
        self.default: Tuple[int, Any] = (200, {})
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlparse(self.path)
                recorder.requests.append({
                    "method": self.command, "path": url.path,
                    "query": {k: v[0] for k, v in parse_qs(url.query).items()},
                    "headers": dict(self.headers), "body": json.loads(raw) if raw else None})
                step = recorder.script.pop(0) if recorder.script else recorder.default
                if step == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, body = step
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.api_url = "http://127.0.0.1:%d/api/v1" % self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def fast_retries():
    config.register_opts(cfg.CONF)
    overrides = {"retry_attempts": 3, "retry_exp_msec": 1, "retry_exp_max_msec": 2,
                 "request_timeout": 5.0}
    for name, value in overrides.items():
        cfg.CONF.set_override(name, value, group="st2")
    yield
    for name in list(overrides) + ["api_key", "api_url", "mistral_api_url"]:
        cfg.CONF.clear_override(name, group="st2")


@pytest.fixture
def st2():
    rec = Recorder()
    yield rec
    rec.close()


def ctx_for(rec: Recorder, **extra: Any) -> Dict[str, Any]:
    base = {"api_url": rec.api_url, "auth_token": TOKEN,
            "parent": {"execution_id": "st2ex1", "user": "stanley"}}
    base.update(extra)
    return base


# ------------------------------------------------------------------------------------ st2_api

def test_request_retries_5xx_then_returns_success(st2):
    st2.script = [(503, {"faultstring": "busy"}), (502, {}), (200, {"ok": 1})]
    resp = st2_api.request("GET", st2.api_url + "/x")
    assert resp.json() == {"ok": 1}
    assert len(st2.requests) == 3


def test_request_gives_up_after_attempts_with_clear_error(st2):
    st2.default = (500, {"faultstring": "db down"})
    with pytest.raises(StackStormAPIError, match=r"HTTP 500 after retries: db down"):
        st2_api.request("PUT", st2.api_url + "/executions/1", json_body={})
    assert len(st2.requests) == 3


def test_request_does_not_retry_4xx(st2):
    st2.default = (404, {"faultstring": "nope"})
    resp = st2_api.request("GET", st2.api_url + "/keys/a")
    assert resp.status_code == 404 and len(st2.requests) == 1
    with pytest.raises(StackStormAPIError, match="reading a: StackStorm answered HTTP 404: nope"):
        st2_api.check(resp, "reading a")


def test_request_retries_dropped_connection(st2):
    st2.script = ["drop", (201, {"id": "c1"})]
    resp = st2_api.request("POST", st2.api_url + "/executions", json_body={"a": 1})
    assert resp.json() == {"id": "c1"}
    assert [r["body"] for r in st2.requests] == [{"a": 1}, {"a": 1}]


def test_unreachable_after_retries_names_the_call():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(StackStormAPIError, match="unreachable after retries"):
        st2_api.request("GET", "http://127.0.0.1:%d/api/v1/x" % port)


def test_auth_headers_prefer_token_then_api_key():
    assert st2_api.auth_headers({"auth_token": "t", "api_key": "k"}) == {"X-Auth-Token": "t"}
    assert st2_api.auth_headers({"api_key": "k"}) == {"St2-Api-Key": "k"}
    cfg.CONF.set_override("api_key", "conf-key", group="st2")
    assert st2_api.auth_headers({}) == {"St2-Api-Key": "conf-key"}


def test_api_url_from_context_or_config_else_clear_error():
    assert st2_api.api_url({"api_url": "http://h/api/v1/"}) == "http://h/api/v1"
    with pytest.raises(ConfigurationError, match="No StackStorm API URL"):
        st2_api.api_url({})
    cfg.CONF.set_override("api_url", "http://conf/api/v1", group="st2")
    assert st2_api.api_url(None) == "http://conf/api/v1"


def test_token_never_logged(st2, caplog):
    caplog.set_level(logging.DEBUG)
    st2.script = [(500, {}), (200, {})]
    st2_api.request("GET", st2.api_url + "/x", headers=st2_api.auth_headers({"auth_token": TOKEN}))
    assert st2.requests[-1]["headers"]["X-Auth-Token"] == TOKEN
    assert TOKEN not in caplog.text


# ------------------------------------------------------------------------------------ config

def test_mistral_api_url_from_option_or_api_host_port():
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.HostAddressOpt("host", default="0.0.0.0"),
                        cfg.PortOpt("port", default=8989)], group="api")
    conf([])
    assert config.mistral_api_url(conf) == "http://127.0.0.1:8989/v2"
    conf.set_override("mistral_api_url", "http://mistral:1/v2/", group="st2")
    assert config.mistral_api_url(conf) == "http://mistral:1/v2"


def test_with_items_fix_switch(monkeypatch):
    monkeypatch.delenv("ST2MISTRAL_WITH_ITEMS_FIX", raising=False)
    assert config.with_items_fix_enabled() is True
    monkeypatch.setenv("ST2MISTRAL_WITH_ITEMS_FIX", "0")
    assert config.with_items_fix_enabled() is False
    monkeypatch.setenv("ST2MISTRAL_WITH_ITEMS_FIX", "1")
    cfg.CONF.set_override("with_items_fix", False, group="st2")
    try:
        assert config.with_items_fix_enabled() is False
    finally:
        cfg.CONF.clear_override("with_items_fix", group="st2")


# ------------------------------------------------------------------------------------ st2kv

@pytest.mark.parametrize("key, expected", [
    ("system.a", ("system", "a")), ("user.b.c", ("user", "b.c")), ("plain", ("user", "plain")),
])
def test_parse_key_scopes(key, expected):
    assert functions.parse_key(key) == expected


@pytest.mark.parametrize("key", ["", "  ", None, 3, "system."])
def test_parse_key_rejects_bad_keys(key):
    with pytest.raises(InvalidParametersError):
        functions.parse_key(key)


def test_st2kv_reads_system_key_with_token(st2):
    st2.default = (200, {"name": "k", "value": "v"})
    env = {"__actions": {"st2.action": {"st2_context": ctx_for(st2)}}}
    assert functions.st2kv_({"__env": env}, "system.k", decrypt=True) == "v"
    req = st2.requests[0]
    assert req["path"] == "/api/v1/keys/k"
    assert req["query"] == {"scope": "system", "decrypt": "true"}
    assert req["headers"]["X-Auth-Token"] == TOKEN


def test_st2kv_missing_key_raises_clear_error_or_returns_default(st2):
    st2.default = (404, {"faultstring": "not found"})
    ctx = ctx_for(st2)
    with pytest.raises(StackStormAPIError, match=r"key 'gone' does not exist .*user scope"):
        functions.get_value(ctx, "gone")
    assert functions.get_value(ctx, "gone", default=None) is None


def test_st2kv_rejects_non_bool_decrypt(st2):
    with pytest.raises(InvalidParametersError, match="decrypt"):
        functions.get_value(ctx_for(st2), "k", decrypt="yes")
    assert st2.requests == []


def test_st2kv_quotes_key_names(st2):
    st2.default = (200, {"value": 1})
    functions.get_value(ctx_for(st2), "system.a/b c")
    assert st2.requests[0]["path"] == "/api/v1/keys/a%2Fb%20c"


def test_st2kv_without_env_names_the_missing_url():
    with pytest.raises(ConfigurationError, match="api_url"):
        functions.st2kv_({"__env": None}, "k")


# ------------------------------------------------------------------------------------ st2.action

@pytest.fixture
def action_mod(monkeypatch):
    """st2mistral_plugin.action, importing mistral_lib for real when installed, else a stub."""
    yield import_action(monkeypatch)
    forget_action()


def _exec_ctx(action_ex_id: str = "ae1") -> Any:
    execution = types.SimpleNamespace(workflow_execution_id="wf1", task_execution_id="t1",
                                      action_execution_id=action_ex_id, workflow_name="wb.main")
    return types.SimpleNamespace(execution=execution)


def _run(mod, monkeypatch, st2, **kwargs: Any):
    cfg.CONF.set_override("mistral_api_url", "http://127.0.0.1:8989/v2", group="st2")
    monkeypatch.setattr(mod.mistral_info, "task_facts",
                        lambda tid: {"task_name": "t", "root_execution_id": "root1"})
    args = {"ref": "core.local", "parameters": {"cmd": "date"}, "st2_context": ctx_for(st2)}
    args.update(kwargs)
    return mod.St2Action(**args).run(_exec_ctx())


def test_st2_action_posts_child_and_stays_async(action_mod, monkeypatch, st2):
    st2.default = (201, {"id": "child1"})
    action = action_mod.St2Action("core.local", {"cmd": "date"}, 10, ctx_for(st2))
    assert action.is_sync() is False
    assert _run(action_mod, monkeypatch, st2, timeout=10) is None
    (req,) = st2.requests
    assert req["method"] == "POST" and req["path"] == "/api/v1/executions"
    assert req["headers"]["X-Auth-Token"] == TOKEN
    assert req["body"] == {
        "action": "core.local",
        "parameters": {"cmd": "date", "timeout": 10},
        "context": {
            "parent": {"execution_id": "st2ex1", "user": "stanley"},
            "mistral": {"workflow_execution_id": "wf1", "task_execution_id": "t1",
                        "action_execution_id": "ae1", "workflow_name": "wb.main",
                        "task_name": "t", "root_execution_id": "root1",
                        "callback_url": "/v2/action_executions/ae1"}},
        "callback": {"source": "mistral_v2",
                     "url": "http://127.0.0.1:8989/v2/action_executions/ae1"},
    }


def test_st2_action_retries_dropped_post_once_more(action_mod, monkeypatch, st2):
    st2.script = ["drop", (200, {"id": "child1"})]
    assert _run(action_mod, monkeypatch, st2) is None
    assert len(st2.requests) == 2
    assert st2.requests[0]["body"] == st2.requests[1]["body"]   # same action_execution_id: deduped


@pytest.mark.parametrize("kwargs, message", [
    ({"ref": "nodot"}, "'ref' must be a StackStorm action ref"),
    ({"parameters": [1]}, "'parameters' must be a dict"),
    ({"timeout": -1}, "'timeout' must be a positive number"),
    ({"st2_context": None}, "no __actions\\['st2.action'\\].st2_context"),
])
def test_st2_action_bad_input_fails_task_without_post(action_mod, monkeypatch, st2, kwargs, message):
    result = _run(action_mod, monkeypatch, st2, **kwargs)
    assert result.error["error_type"] in ("InvalidParametersError", "ConfigurationError")
    assert re.search(message, result.error["error"])
    assert st2.requests == []


def test_st2_action_refused_post_is_an_error_result(action_mod, monkeypatch, st2):
    st2.default = (400, {"faultstring": "Action core.local not found"})
    result = _run(action_mod, monkeypatch, st2)
    assert "HTTP 400: Action core.local not found" in result.error["error"]
    assert TOKEN not in json.dumps(result.error)
    # st2mistral's shape: the HTTP response itself
    assert result.error["status"] == 400
    assert result.error["content"] == {"faultstring": "Action core.local not found"}
    assert result.error["url"] == st2.api_url + "/executions"
    assert result.error["headers"]["Content-Type"] == "application/json"
    assert result.error["reason"] == "Bad Request" and result.error["history"] == []
    assert isinstance(result.error["elapsed"], float)


def test_st2_action_5xx_after_retries_carries_the_last_response(action_mod, monkeypatch, st2):
    st2.default = (503, {"faultstring": "busy"})
    result = _run(action_mod, monkeypatch, st2)
    assert len(st2.requests) == 3                     # [st2] retry_attempts in this module
    assert result.error["status"] == 503 and result.error["content"] == {"faultstring": "busy"}
    assert "HTTP 503 after retries" in result.error["error"]


def test_st2_action_needs_parent_execution_id(action_mod, monkeypatch, st2):
    result = _run(action_mod, monkeypatch, st2, st2_context={"api_url": st2.api_url})
    assert "parent.execution_id" in result.error["error"]
    assert st2.requests == []


def test_st2_action_repr_hides_context(action_mod, st2):
    assert TOKEN not in repr(action_mod.St2Action("a.b", {}, None, ctx_for(st2)))


def test_build_request_passes_notify_unless_task_skipped(action_mod):
    ctx = {"parent": {"execution_id": "p"}, "notify": {"on-complete": {"routes": ["slack"]}},
           "skip_notify_tasks": ["quiet"]}
    ex = _exec_ctx().execution
    loud = action_mod.build_request("a.b", {}, None, ctx, ex, {"task_name": "loud"}, "http://m/v2")
    quiet = action_mod.build_request("a.b", {}, None, ctx, ex, {"task_name": "quiet"}, "http://m/v2")
    assert loud["notify"] == {"on-complete": {"routes": ["slack"]}}
    assert "notify" not in quiet
