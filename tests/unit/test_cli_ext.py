"""Unit tests of the `st2-mistral` CLI: output formatting, argument parsing, config, HTTP retries."""
from __future__ import annotations

import http.server
import json
import threading
from typing import Any, Dict, List

import pytest

from mistral_v2.exceptions import InvalidParametersError, StackStormAPIError
from st2client_ext import formatting, shell
from st2client_ext.api_client import StackStormHTTP

TREE = {
    "id": "e1", "action": "p.wb", "status": "failed", "runner": "mistral-v2",
    "workflow": {"id": "m1", "workflow_name": "p.wb.main", "state": "ERROR", "state_info": "x", "tasks": [
        {"name": "a", "id": "t1", "state": "SUCCESS", "state_info": None, "type": "WORKFLOW", "executions": [],
         "workflows": [{"id": "m2", "workflow_name": "p.wb.sub", "state": "SUCCESS", "state_info": None,
                        "tasks": [{"name": "deep", "id": "t3", "state": "SUCCESS", "workflows": [],
                                   "executions": []}]}]},
        {"name": "b", "id": "t2", "state": "ERROR", "state_info": "Failed:\n  boom " + "x" * 200, "type": "ACTION",
         "workflows": [], "executions": [{"id": "e2", "action": "core.local", "status": "failed",
                                          "runner": "local-shell-cmd", "workflow": None}]},
    ]},
}


def test_format_tree_draws_nesting_states_and_short_errors():
    text = formatting.format_tree(TREE)
    assert text.splitlines() == [
        "p.wb failed (e1)",
        "└─ workflow p.wb.main [ERROR] (mistral m1)",
        "   ├─ a [SUCCESS]",
        "   │  └─ workflow p.wb.sub [SUCCESS] (mistral m2)",
        "   │     └─ deep [SUCCESS]",
        "   └─ b [ERROR] - Failed: boom " + "x" * 86 + "…",
        "      └─ core.local failed (e2)",
    ]


def test_format_context_missing_check_and_reply():
    view = {"task": "t2", "state": "ERROR", "task_id": "i", "workflow_execution_id": "w",
            "variables": {"g": "hello"}, "published": {"g": "hello"}, "input": {}, "env": {"k": "********"}}
    text = formatting.format_context(view)
    assert text.startswith("task t2 [ERROR] (task i, workflow execution w)")
    assert "  g: hello" in text and "workflow input:\n  (none)" in text and "k: '********'" in text
    missing = formatting.format_missing({"faultstring": "Cannot resume", "missing": {"t3": ["a", "b"], "t4": ["c"]}})
    assert missing.splitlines() == ["Cannot resume", "", "Missing requirements:", "  t3: a, b",
                                    "    supply with: -p t3.a=<value> -p t3.b=<value>", "  t4: c",
                                    "    supply with: -p t4.c=<value>"]
    assert "  t1: SUCCESS" in formatting.format_missing({"faultstring": "no", "offenders": {"t1": "SUCCESS"}})
    check = formatting.format_rerun_check({"ok": False, "workflow_state": "ERROR", "execution_id": "e",
                                           "tasks": [{"name": "t1", "state": "SUCCESS", "reset": True},
                                                     {"name": "t9", "state": None, "reset": False}],
                                           "problems": {"t1": "SUCCESS", "t9": "does not exist"}, "message": "Cannot"})
    lines = check.splitlines()
    assert lines[0] == "REFUSED  (workflow ERROR, execution e)"
    assert "t9" in lines[2] and "does not exist" in lines[2] and "no-reset" in lines[2]
    assert "  t1: SUCCESS" in lines and lines[-1] == "Cannot"
    assert formatting.format_reply({"completed": True, "message": "hi"}) == "hi"
    assert "is running" in formatting.format_reply({"completed": False, "status": "running", "execution_id": "e"})


def test_parse_assignments():
    assert shell.parse_assignments(["a=1", "t.b=x y", "c={\"k\": [1]}", "d="]) == \
        {"a": 1, "t.b": "x y", "c": {"k": [1]}, "d": ""}
    with pytest.raises(InvalidParametersError, match='-p expects name=value, got "oops"'):
        shell.parse_assignments(["oops"])


class FakeHTTP:
    def __init__(self, answers: Dict[str, Any]) -> None:
        self.answers = answers
        self.calls: List[Any] = []

    def _answer(self, key):
        value = self.answers[key]
        if isinstance(value, Exception):
            raise value
        return value

    def get(self, path):
        self.calls.append(("GET", path))
        return self._answer(path)

    def post(self, path, json):
        self.calls.append(("POST", path, json))
        return self._answer(path)

    def request(self, method, path, json=None):
        return self.get(path) if method == "GET" else self.post(path, json)


def _run(argv, http, capsys):
    code = shell.run(shell.build_parser().parse_args(argv), http)
    return code, capsys.readouterr().out


def test_shell_commands_call_the_extension_endpoints(capsys):
    http = FakeHTTP({"mistral/executions/e1/tree": TREE})
    code, out = _run(["tree", "e1"], http, capsys)
    assert code == 0 and out.startswith("p.wb failed (e1)")
    code, out = _run(["--json", "tree", "e1"], http, capsys)
    assert json.loads(out) == TREE
    http = FakeHTTP({"mistral/executions/e1/tasks/a.b/context": {"task": "a.b", "state": "ERROR"}})
    code, out = _run(["context", "e1", "a.b"], http, capsys)
    assert code == 0 and out.startswith("task a.b [ERROR]")

    refusal = StackStormAPIError("Cannot resume", 400, {"faultstring": "Cannot resume", "missing": {"t2": ["r2"]}})
    http = FakeHTTP({"mistral/executions/e1/resume_next": refusal})
    code, out = _run(["resume-next", "e1", "--tasks", "t2", "-p", "x=1", "-c", "size=5"], http, capsys)
    assert code == 1 and "t2: r2" in out
    assert http.calls[0][2] == {"tasks": ["t2"], "variables": {"x": 1}, "context": {"size": 5}}
    http = FakeHTTP({"mistral/executions/e1/resume_next": {"id": "e9", "status": "running"}})
    code, out = _run(["resume-next", "e1", "--tasks", "t2", "-p", "t2.r2=v"], http, capsys)
    assert code == 0 and "st2 execution get e9" in out

    http = FakeHTTP({"mistral/executions/e1/rerun_check": {"ok": True, "tasks": [], "message": "Would re-run t2."}})
    code, out = _run(["rerun-check", "e1", "--tasks", "t2", "--no-reset", "t2"], http, capsys)
    assert code == 0 and out.startswith("OK") and http.calls[0][2] == {"tasks": ["t2"], "no_reset": ["t2"]}
    http = FakeHTTP({"mistral/executions/e1/rerun_check": {"ok": False, "tasks": []}})
    assert _run(["rerun-check", "e1", "--tasks", "t2"], http, capsys)[0] == 1

    http = FakeHTTP({"aliasexecution/e1/reply": {"completed": True, "message": "done!"}})
    assert _run(["reply", "e1"], http, capsys) == (0, "done!\n")
    http = FakeHTTP({"aliasexecution/e1/reply": {"completed": False, "status": "running", "execution_id": "e1"}})
    assert _run(["reply", "e1"], http, capsys)[0] == 1


def test_main_reports_api_errors_without_traceback(monkeypatch, capsys):
    class Failing(FakeHTTP):
        def get(self, path):
            if path == shell.EXT_INFO:
                return {"served_by": "x", "routes": []}
            raise StackStormAPIError('Execution "zz" cannot be found.', 404, {})
    monkeypatch.setattr(shell, "make_http", lambda args: Failing({}))
    assert shell.main(["tree", "zz"]) == 1
    assert capsys.readouterr().err == 'ERROR: Execution "zz" cannot be found. (HTTP 404)\n'


def test_an_api_without_the_routes_is_named_with_what_to_do(monkeypatch, capsys):
    absent = StackStormAPIError("The resource could not be found.", 404, {})

    class Stock(FakeHTTP):
        api_url = "http://st2.example/api/v1"
    http = Stock({"mistral/executions/e1/tree": absent, shell.EXT_INFO: absent,
                  "mistral/executions/e1/rerun_check": absent})
    monkeypatch.setattr(shell, "make_http", lambda args: http)
    for argv in (["tree", "e1"], ["rerun-check", "e1", "--tasks", "a"]):
        assert shell.main(argv) == 1
        err = capsys.readouterr().err
        assert "http://st2.example/api/v1" in err and "does not serve the st2-mistral routes" in err
        assert "st2-mistral-compat enable" in err and "(HTTP 404)" in err
    assert ("GET", shell.EXT_INFO) in http.calls


def test_make_http_uses_st2_cli_config_and_env(tmp_path, monkeypatch):
    for var in ("ST2_BASE_URL", "ST2_API_URL", "ST2_AUTH_URL", "ST2_AUTH_TOKEN", "ST2_API_KEY", "ST2_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    conf = tmp_path / "config"
    conf.write_text("[api]\nurl = http://127.0.0.1:7777/api/v1\n[credentials]\napi_key = from-config\n")
    monkeypatch.setenv("ST2_CONFIG_FILE", str(conf))
    made = shell.make_http(shell.build_parser().parse_args(["tree", "x"]))
    assert made.api_url == "http://127.0.0.1:7777/api/v1"
    assert made.session.headers["St2-Api-Key"] == "from-config"
    monkeypatch.setenv("ST2_API_URL", "http://127.0.0.1:8888/api/v1")
    monkeypatch.setenv("ST2_AUTH_TOKEN", "tok")
    made = shell.make_http(shell.build_parser().parse_args(["tree", "x"]))
    assert made.api_url == "http://127.0.0.1:7777/api/v1"  # the config file wins over env, as in st2
    made = shell.make_http(shell.build_parser().parse_args(["--skip-config", "tree", "x"]))
    assert made.api_url == "http://127.0.0.1:8888/api/v1" and made.session.headers["X-Auth-Token"] == "tok"
    made = shell.make_http(shell.build_parser().parse_args(["--api-url", "http://127.0.0.1:1/api/v1", "tree", "x"]))
    assert made.api_url == "http://127.0.0.1:1/api/v1"


class _Handler(http.server.BaseHTTPRequestHandler):
    plan: List[int] = []
    seen: List[Dict[str, str]] = []

    def _reply(self):
        _Handler.seen.append({"path": self.path, "token": self.headers.get("X-Auth-Token", "")})
        code = _Handler.plan.pop(0) if _Handler.plan else 200
        body = json.dumps({"ok": True} if code < 400 else {"faultstring": "nope %d" % code}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    _Handler.plan, _Handler.seen = [], []
    yield "http://127.0.0.1:%d/api/v1" % httpd.server_port
    httpd.shutdown()
    httpd.server_close()


def test_http_retries_5xx_then_succeeds_and_sends_token(server):
    _Handler.plan = [503, 502]
    client = StackStormHTTP(server, token="secret-token", attempts=3, backoff_ms=1, max_backoff_ms=2)
    assert client.get("mistral/executions/e/tree") == {"ok": True}
    assert [s["path"] for s in _Handler.seen] == ["/api/v1/mistral/executions/e/tree"] * 3
    assert all(s["token"] == "secret-token" for s in _Handler.seen)


def test_http_4xx_not_retried_and_5xx_exhausted(server):
    _Handler.plan = [404]
    client = StackStormHTTP(server, token="secret-token", attempts=3, backoff_ms=1, max_backoff_ms=2)
    with pytest.raises(StackStormAPIError) as err:
        client.post("x", {})
    assert err.value.status_code == 404 and str(err.value) == "nope 404" and len(_Handler.seen) == 1
    _Handler.plan = [500, 500, 500]
    with pytest.raises(StackStormAPIError, match=r"HTTP 500 after retries: nope 500") as err:
        client.get("y")
    assert "secret-token" not in str(err.value)


def test_http_unreachable_is_a_clear_error():
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = StackStormHTTP("http://127.0.0.1:%d/api/v1" % port, api_key="k", attempts=2, backoff_ms=1)
    with pytest.raises(StackStormAPIError, match="GET http://127.0.0.1:%d/api/v1/x unreachable after retries" % port):
        client.get("x")
