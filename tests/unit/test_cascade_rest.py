"""cascade.RestSt2Executions: the StackStorm REST calls of the cascade, retries and errors."""
import json
import logging

import pytest
import requests
from oslo_config import cfg

from mistral_v2 import cascade, config
from mistral_v2.exceptions import StackStormAPIError

TOKEN = "s3cr3t-token-value"


class Resp:
    def __init__(self, status, body=None):
        self.status_code = status
        self.content = b"" if body is None else json.dumps(body).encode()
        self.text = self.content.decode()

    def json(self):
        return json.loads(self.content)


class Session:
    """Answers from a script; each item a Resp or an exception to raise."""

    def __init__(self, *script):
        self.script = list(script)
        self.calls = []

    def request(self, method, url, headers=None, timeout=None, **kwargs):
        self.calls.append((method, url, dict(headers or {}), kwargs))
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


@pytest.fixture
def opts():
    config.register_opts()
    cfg.CONF.set_override("retry_attempts", 3, "mistral")
    yield cfg.CONF.mistral
    cfg.CONF.clear_override("retry_attempts", "mistral")


def make(session, opts, **kw):
    sleeps = []
    client = cascade.RestSt2Executions("http://127.0.0.1:9101/api/v1/", auth_token=TOKEN, conf=opts,
                                       session=session, sleep=sleeps.append, **kw)
    return client, sleeps


def test_requests_use_the_documented_endpoints_and_token_header(opts):
    s = Session(Resp(200, [{"id": "c1"}]), Resp(200, {"id": "p"}), Resp(200, {"id": "p"}),
                Resp(200, {"id": "p"}), Resp(200, {"id": "p", "status": "running"}))
    c, _ = make(s, opts)
    assert c.list_children("p") == [{"id": "c1"}]
    c.request_pause("p")
    c.request_resume("p")
    c.request_cancel("p")
    assert c.get_execution("p")["status"] == "running"
    assert [(m, u) for m, u, _, _ in s.calls] == [
        ("GET", "http://127.0.0.1:9101/api/v1/executions"),
        ("PUT", "http://127.0.0.1:9101/api/v1/executions/p"),
        ("PUT", "http://127.0.0.1:9101/api/v1/executions/p"),
        ("DELETE", "http://127.0.0.1:9101/api/v1/executions/p"),
        ("GET", "http://127.0.0.1:9101/api/v1/executions/p"),
    ]
    assert s.calls[0][3]["params"] == {"parent": "p"}
    assert s.calls[1][3]["json"] == {"status": "pausing"}
    assert s.calls[2][3]["json"] == {"status": "resuming"}
    assert all(h == {"X-Auth-Token": TOKEN} for _, _, h, _ in s.calls)


def test_api_key_header_when_no_token(opts):
    s = Session(Resp(200, []))
    c = cascade.RestSt2Executions("http://h/api/v1", api_key="k", conf=opts, session=s)
    c.list_children("p")
    assert s.calls[0][2] == {"St2-Api-Key": "k"}


def test_connection_errors_and_5xx_are_retried_with_backoff(opts):
    s = Session(requests.exceptions.ConnectionError("refused"), Resp(503), Resp(200, []))
    c, sleeps = make(s, opts)
    assert c.list_children("p") == []
    assert len(s.calls) == 3 and len(sleeps) == 2


def test_gives_up_after_retry_attempts_with_clear_error_without_secrets(opts, caplog):
    s = Session(Resp(500), Resp(502), Resp(503))
    c, _ = make(s, opts)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StackStormAPIError, match=r"PUT \S+/executions/p failed .*503 after retries.*3 attempt") as err:
        c.request_pause("p")
    assert TOKEN not in str(err.value) and TOKEN not in caplog.text


def test_4xx_is_not_retried_and_carries_stackstorm_message(opts):
    s = Session(Resp(400, {"faultstring": 'Execution p is "succeeded"'}))
    c, sleeps = make(s, opts)
    with pytest.raises(StackStormAPIError, match=r'HTTP 400\): Execution p is "succeeded"'):
        c.request_pause("p")
    assert len(s.calls) == 1 and sleeps == []


def test_cascade_survives_an_unreachable_stackstorm(opts):
    s = Session(Resp(500), Resp(500), Resp(500))
    c, _ = make(s, opts)
    assert cascade.cascade_down(c, "p", cascade.PAUSE) == []
