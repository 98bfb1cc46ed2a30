"""MistralCallbackHandler: reports once, with the right state and output, retried."""
import json

import pytest
import requests
from mistral_opts import mistral_opts

from mistral_v2 import callback
from mistral_v2.callback import MistralCallbackHandler
from mistral_v2.exceptions import MistralAPIError, St2MistralError
from mistral_v2.mistral_api import MistralAPI


class FakeActionExecutions(requests.adapters.BaseAdapter):
    def __init__(self, state="RUNNING", fail_puts=0):
        super().__init__()
        self.state = state
        self.fail_puts = fail_puts
        self.lose_answers = 0
        self.refuse_puts = False
        self.puts = []
        self.calls = []

    def send(self, request, **kwargs):
        self.calls.append((request.method, request.url))
        if request.method == "PUT":
            if self.fail_puts:
                self.fail_puts -= 1
                return self._resp(request, 503, {"faultstring": "busy"})
            if self.refuse_puts:
                return self._resp(request, 400, {"faultstring": "Invalid output"})
            if self.state != "RUNNING":  # as Mistral 23: the engine refuses, nothing changes
                return self._resp(request, 500, {"faultstring": "ValueError: Action ae1 is already completed"})
            body = json.loads(request.body)
            self.puts.append(body)
            self.state = body["state"]
            if self.lose_answers:  # the PUT arrived but its answer is lost on the way back
                self.lose_answers -= 1
                raise requests.exceptions.ConnectionError("connection reset")
        return self._resp(request, 200, {"id": "ae1", "state": self.state})

    @staticmethod
    def _resp(request, status, body):
        resp = requests.Response()
        resp.status_code = status
        resp._content = json.dumps(body).encode()
        resp.request, resp.url = request, request.url
        return resp

    def close(self):
        pass


@pytest.fixture
def fake(monkeypatch):
    opts = mistral_opts(retry_exp_msec=0, jitter_interval=0)
    transport = FakeActionExecutions()
    monkeypatch.setattr(MistralCallbackHandler, "api_factory",
                        lambda url: MistralAPI(url=url, conf=opts, transport=transport,
                                               sleep=lambda s: None))
    return transport


URL = "http://127.0.0.1:8989/v2/action_executions/ae1"


def test_success_is_reported_with_result(fake):
    assert MistralCallbackHandler.callback(URL, {}, "succeeded", {"stdout": "hi"}) is True
    assert fake.puts == [{"state": "SUCCESS", "output": {"stdout": "hi"}}]
    assert fake.calls[-1] == ("PUT", URL)


def test_failure_carries_the_failed_result(fake):
    MistralCallbackHandler.callback(URL, {}, "failed", {"stderr": "no such file", "return_code": 2})
    assert fake.puts[0] == {"state": "ERROR", "output": {"stderr": "no such file", "return_code": 2}}


def test_failure_without_result_sends_error_text(fake):
    MistralCallbackHandler.callback(URL, {}, "timeout", None)
    assert fake.puts[0]["state"] == "ERROR" and fake.puts[0]["output"] == "StackStorm action failed."


def test_canceled_and_timeout_states(fake):
    MistralCallbackHandler.callback(URL, {}, "canceled", None)
    assert fake.puts[0]["state"] == "CANCELLED"


def test_never_reports_twice(fake):
    assert MistralCallbackHandler.callback(URL, {}, "succeeded", {"a": 1}) is True
    assert MistralCallbackHandler.callback(URL, {}, "succeeded", {"a": 1}) is False
    assert len(fake.puts) == 1


def test_happy_path_is_one_put_and_no_read(fake):
    assert MistralCallbackHandler.callback(URL, {}, "succeeded", {"a": 1}) is True
    assert fake.calls == [("PUT", URL)]


def test_already_completed_is_recognised_without_retrying(fake):
    fake.state = "SUCCESS"
    assert MistralCallbackHandler.callback(URL, {}, "failed", {"a": 1}) is False
    assert fake.calls == [("PUT", URL), ("GET", URL)] and fake.puts == []


def test_put_whose_answer_was_lost_is_not_applied_twice(fake):
    fake.lose_answers = 1
    assert MistralCallbackHandler.callback(URL, {}, "succeeded", {"a": 1}) is False
    assert fake.puts == [{"state": "SUCCESS", "output": {"a": 1}}]
    assert [m for m, _ in fake.calls] == ["PUT", "PUT", "GET"]


def test_refused_put_of_a_running_action_is_an_error_not_retried(fake):
    fake.refuse_puts = True
    with pytest.raises(MistralAPIError, match="HTTP 400"):
        MistralCallbackHandler.callback(URL, {}, "succeeded", {"a": 1})
    assert fake.puts == [] and fake.state == "RUNNING"
    assert [m for m, _ in fake.calls] == ["PUT", "GET"]


def test_running_status_is_not_reported(fake):
    assert MistralCallbackHandler.callback(URL, {}, "running", {}) is False
    assert fake.calls == []


def test_put_is_retried_on_5xx(fake):
    fake.fail_puts = 2
    assert MistralCallbackHandler.callback(URL, {}, "succeeded", {"a": 1}) is True
    assert [m for m, _ in fake.calls].count("PUT") == 3 and len(fake.puts) == 1


def test_bad_url_is_a_clear_error(fake):
    with pytest.raises(St2MistralError, match="not a Mistral action execution URL"):
        MistralCallbackHandler.callback("http://u:pw@x/v2/executions/1", {}, "succeeded", {})


def test_split_url():
    assert callback.split_url(URL) == ("http://127.0.0.1:8989/v2", "ae1")


def test_pause_task_pauses_a_running_action_execution_only(fake):
    assert callback.pause_task(URL) is True
    assert [put["state"] for put in fake.puts] == ["PAUSED"]
    assert callback.pause_task(URL) is False  # already PAUSED: nothing sent
    fake.state = "SUCCESS"
    assert callback.pause_task(URL) is False
    assert len(fake.puts) == 1
