"""Retry policy and error translation of MistralAPI, over a fake HTTP transport."""
import json

import pytest
import requests
from mistral_opts import mistral_opts

from mistral_v2 import mistral_api
from mistral_v2.exceptions import MistralAPIError, MistralUnreachableError, WorkflowNotFoundError
from mistral_v2.mistral_api import MistralAPI, safe_url


class FakeAdapter(requests.adapters.BaseAdapter):
    """Answers requests from a script: each item is (status, body) or an exception instance."""

    def __init__(self, script):
        super().__init__()
        self.script = list(script)
        self.requests = []
        self.bodies = []

    def send(self, request, **kwargs):
        self.requests.append((request.method, request.url, kwargs.get("timeout")))
        self.proxies = kwargs.get("proxies")
        self.bodies.append(request.body)
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        status, body = item
        resp = requests.Response()
        resp.status_code = status
        resp._content = json.dumps(body).encode()
        resp.headers["Content-Type"] = "application/json"
        resp.url = request.url
        resp.request = request
        return resp

    def close(self):
        pass


@pytest.fixture
def conf():
    return mistral_opts(retry_attempts=4, retry_exp_msec=100, retry_exp_max_msec=1000, jitter_interval=0)


def make_api(conf, script, url="http://127.0.0.1:9/v2"):
    adapter = FakeAdapter(script)
    sleeps = []
    api = MistralAPI(url=url, conf=conf, transport=adapter, sleep=sleeps.append)
    return api, adapter, sleeps


WF = {"id": "w1", "name": "pk.a", "definition": "x"}


def test_503_twice_then_200_is_retried_with_backoff(conf):
    api, adapter, sleeps = make_api(conf, [(503, {"faultstring": "busy"}), (503, {}), (200, WF)])
    assert api.get_workflow("pk.a")["name"] == "pk.a"
    assert len(adapter.requests) == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] > 0


def test_connection_error_is_retried(conf):
    api, adapter, _ = make_api(conf, [requests.exceptions.ConnectionError("refused"), (200, WF)])
    assert api.get_workflow("pk.a")["id"] == "w1"
    assert len(adapter.requests) == 2


def test_400_is_not_retried_and_is_explained(conf):
    api, adapter, sleeps = make_api(conf, [(400, {"faultstring": "Invalid DSL: bad"})])
    with pytest.raises(MistralAPIError, match=r"HTTP 400.*Invalid DSL: bad") as info:
        api.create_workflow("version: '2.0'")
    assert info.value.status_code == 400
    assert len(adapter.requests) == 1 and sleeps == []


def test_404_names_the_object(conf):
    api, adapter, _ = make_api(conf, [(404, {"faultstring": "Workflow not found"})])
    with pytest.raises(WorkflowNotFoundError, match='workflow "pk.zz".*not found'):
        api.get_workflow("pk.zz")
    assert len(adapter.requests) == 1


def test_gives_up_after_retry_attempts_without_leaking_credentials(conf):
    api, adapter, _ = make_api(conf, [(503, {})] * 10, url="http://admin:s3cret@127.0.0.1:9/v2")
    with pytest.raises(MistralUnreachableError) as info:
        api.get_execution("e1")
    assert len(adapter.requests) == 4
    msg = str(info.value)
    assert "Mistral unreachable at http://127.0.0.1:9/v2" in msg and "s3cret" not in msg


def test_requests_carry_a_timeout(conf):
    api, adapter, _ = make_api(conf, [(200, WF)])
    api.get_workflow("pk.a")
    assert adapter.requests[0][2] == conf.request_timeout


def test_create_sends_the_idempotency_id_and_retries(conf):
    existing = {"id": "0b5e0c1e-0000-4000-8000-000000000001", "workflow_name": "pk.a",
                "description": "st2:abc", "state": "RUNNING"}
    api, adapter, _ = make_api(conf, [requests.exceptions.ConnectionError("reset"), (201, existing)])
    ex = api.create_execution("pk.a", {"x": 1}, "st2:abc", existing["id"], env={"k": "v"})
    assert ex["id"] == existing["id"]
    assert [m for m, _, _ in adapter.requests] == ["POST", "POST"]
    body = json.loads(adapter.bodies[-1])
    assert body["id"] == existing["id"] and body["workflow_name"] == "pk.a"
    assert json.loads(body["input"]) == {"x": 1} and json.loads(body["params"]) == {"env": {"k": "v"}}


def test_listing_paginates(conf, monkeypatch):
    from mistral_v2 import mistral_api
    monkeypatch.setattr(mistral_api, "PAGE_SIZE", 2)
    page1 = {"executions": [{"id": "a"}, {"id": "b"}]}
    page2 = {"executions": [{"id": "c"}]}
    api, adapter, _ = make_api(conf, [(200, page1), (200, page2)])
    assert [e["id"] for e in api.find_executions_by_description(["st2:1", "st2:2"])] == ["a", "b", "c"]
    assert "description=in%3Ast2%3A1%2Cst2%3A2" in adapter.requests[0][1] or \
        "description=in:st2:1,st2:2" in adapter.requests[0][1]
    assert "marker=b" in adapter.requests[1][1]


def test_safe_url_strips_userinfo():
    assert safe_url("https://u:p@host:8989/v2") == "https://host:8989/v2"


def test_clients_of_different_tokens_share_kept_alive_connections(conf):
    """A MistralAPI per execution token (one per start) must not open a TCP connection per start:
    all of them reuse the process's pool, and each request still carries its own token."""
    import http.server
    import threading

    seen = []
    connections = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def setup(self):
            super().setup()
            connections.append(self.client_address)

        def do_GET(self):
            seen.append(self.headers.get("X-Auth-Token"))
            body = json.dumps({"id": "ae1", "state": "RUNNING"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = "http://127.0.0.1:%d/v2" % server.server_address[1]
        for token in ("token-a", "token-b", "token-c"):
            MistralAPI(url=url, conf=conf, auth_token=token).get_action_execution("ae1")
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["token-a", "token-b", "token-c"]
    assert len(connections) == 1


def test_proxy_variables_are_honoured_and_read_once_per_host(conf, monkeypatch):
    monkeypatch.setattr(mistral_api, "_env_settings", {})
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "direct.invalid")
    via_proxy, adapter, _ = make_api(conf, [(200, WF), (200, WF)], url="http://mistral.invalid:8989/v2")
    via_proxy.get_workflow("pk.a")
    assert adapter.proxies["http"] == "http://proxy.invalid:3128"
    direct, adapter2, _ = make_api(conf, [(200, WF)], url="http://direct.invalid:8989/v2")
    direct.get_workflow("pk.a")
    assert "http" not in adapter2.proxies  # NO_PROXY names it
    monkeypatch.setenv("HTTP_PROXY", "http://other.invalid:3128")  # read once per process
    via_proxy.get_workflow("pk.a")
    assert adapter.proxies["http"] == "http://proxy.invalid:3128"
