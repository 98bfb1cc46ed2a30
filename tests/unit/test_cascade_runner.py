"""MistralRunner.pause/resume/cancel go through mistral_v2.cascade (fake Mistral and StackStorm)."""
import types

import pytest
from oslo_config import cfg
from test_cascade import FakeMistral, FakeSt2

from mistral_v2 import config, mistral_v2
from mistral_v2.exceptions import InvalidOperationError

CALLBACK = {"source": "mistral_v2", "url": "http://127.0.0.1:8989/v2/action_executions/ae-parent"}


@pytest.fixture(autouse=True)
def conf():
    config.register_opts()
    yield cfg.CONF.mistral


def runner_for(api, st2, context, callback=None):
    r = mistral_v2.get_runner()
    r.api = api
    r.st2_executions = st2
    r.execution_id = r.liveaction_id = "st2-child"
    r.start_grace = 0
    r.liveaction = types.SimpleNamespace(id="st2-child", status="pausing", context=context,
                                         result={"tasks": []}, callback=callback or {})
    r.context = context
    return r


def child_setup(parent_status="running"):
    m = FakeMistral()
    m.add("mex-child", tasks=["RUNNING"])
    m.action_executions["ae-parent"] = {"state": "RUNNING"}
    s = FakeSt2()
    s.add("st2-parent", status=parent_status)
    s.add("st2-child", parent="st2-parent", status="pausing")
    s.add("st2-grandchild", parent="st2-child")
    ctx = {"parent": {"execution_id": "st2-parent"}, "mistral": {"execution_id": "mex-child"}}
    return m, s, runner_for(m, s, ctx, CALLBACK)


def test_runner_pause_cascades_down_and_marks_parent_task_paused():
    m, s, r = child_setup()
    status, result, ctx = r.pause()
    assert status == "pausing"
    assert m.executions["mex-child"]["state"] == "PAUSED"
    assert s.requests == [("pause", "st2-grandchild")]
    assert m.action_updates == [("ae-parent", "PAUSED")]
    assert ctx["mistral"]["execution_id"] == "mex-child" and result == {"tasks": []}


def test_runner_resume_of_child_alone_keeps_parent_task_paused():
    m, s, r = child_setup(parent_status="paused")
    r.pause()
    s.executions["st2-grandchild"]["status"] = "paused"
    status, _, _ = r.resume()
    assert status == "running"
    assert ("resume", "st2-grandchild") in s.requests
    assert m.action_updates == [("ae-parent", "PAUSED")]


def test_runner_cancel_cascades_to_child_workflows():
    m, s, r = child_setup()
    status, _, _ = r.cancel()
    assert status == "canceling"
    assert m.executions["mex-child"]["state"] == "CANCELLED"
    assert s.requests == [("cancel", "st2-grandchild")]


def test_runner_without_st2_api_still_pauses_mistral_tree():
    m, _, r = child_setup()
    r.st2_executions = None
    status, _, _ = r.pause()
    assert status == "pausing" and m.executions["mex-child"]["state"] == "PAUSED"


def test_runner_error_names_the_execution_when_the_host_asks_for_errors():
    m, s, r = child_setup()
    r.raise_operation_errors = True
    r.liveaction.context = r.context = {"mistral": {"execution_id": "gone"}}
    with pytest.raises(InvalidOperationError, match="Cannot pause execution st2-child: Mistral execution gone"):
        r.pause()


@pytest.mark.parametrize("verb, unchanged", [("pause", "running"), ("resume", "paused"), ("cancel", "running")])
def test_inside_stackstorm_a_failed_operation_returns_a_status_instead_of_raising(verb, unchanged):
    """StackStorm fails an execution whose pause/resume raises and leaves a raising cancel in
    `canceling` for ever: the runner returns the status Mistral reports (else the one before)."""
    m, s, r = child_setup()
    r.liveaction.context = r.context = {"mistral": {"execution_id": "gone"}}
    status, result, ctx = getattr(r, verb)()
    assert status == unchanged
    assert "Mistral execution gone" in result["error"] and result["tasks"] == []


def test_inside_stackstorm_cancel_of_an_execution_that_never_started_in_mistral_is_canceled():
    m, s, r = child_setup()
    r.liveaction.context = r.context = {}
    assert r.cancel()[0] == "canceled"
    assert r.pause()[0] == "running"


def test_operation_without_runner_token_calls_mistral_with_the_operation_token(monkeypatch):
    """StackStorm gives pause/resume/cancel no runner token: without `[mistral] api_key` Mistral is
    called with the operation's own token, and no client keeps it once the operation is over."""
    import contextlib

    m, s, r = child_setup()
    r.api = None
    r.auth_token = None
    seen = []

    @contextlib.contextmanager
    def operation_token(user, execution_id):
        yield "op-token"
        seen.append("deleted")

    def api_for(token):
        seen.append(token)
        return m

    monkeypatch.setattr(mistral_v2.seam, "operation_token", operation_token)
    monkeypatch.setattr(r, "_api_for", api_for)
    status, _, _ = r.pause()
    assert status == "pausing" and m.executions["mex-child"]["state"] == "PAUSED"
    assert seen == ["op-token", "deleted"]
    assert r._api is None
