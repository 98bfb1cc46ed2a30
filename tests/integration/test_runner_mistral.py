"""The mistral-v2 runner against a real Mistral: start, query, pause/resume/cancel, callback, errors."""
from __future__ import annotations

import os
import shutil
import time
from typing import Any, Dict, Iterable, Optional, Tuple

import pytest
import yaml
from mistral_opts import mistral_opts
from result_shape import failure_of, output_of
from runner_wiring import action_metadata, mistral_options, wire_runner

from mistral_v2 import definitions, mistral_v2, query
from mistral_v2.callback import MistralCallbackHandler
from mistral_v2.exceptions import MistralUnreachableError
from mistral_v2.mistral_api import MistralAPI

pytestmark = pytest.mark.integration

PACK_DIR = os.path.join(os.path.dirname(__file__), "..", "fixtures", "packs", "mistral_tests")
ST2_API_URL = "http://127.0.0.1:9101/api/v1"


@pytest.fixture(scope="module")
def mistral(mistral_server):
    """Point `[mistral]` at the session's server (polling mode: no StackStorm API to push to)."""
    with mistral_options(v2_base_url=mistral_server.url, api_url=ST2_API_URL, enable_polling=True,
                         retry_exp_msec=100, jitter_interval=0.05):
        yield mistral_server


@pytest.fixture
def api(mistral):
    return mistral_v2.shared_api(mistral.url)


@pytest.fixture
def querier(api):
    return query.MistralResultsQuerier(api=api)


def make_runner(action: str, entry_point: Optional[str] = None, runner_params: Optional[Dict] = None,
                pack_dir: str = PACK_DIR, context: Optional[Dict] = None) -> mistral_v2.MistralRunner:
    """A runner wired the way the host/StackStorm wires it, for pack `mistral_tests`."""
    meta, params_meta, rp = action_metadata(pack_dir, action)
    rp.update(runner_params or {})
    ctx = context if context is not None else {"user": "stanley", "api_user": "alice",
                                               "source_channel": "chatops", "rule": {"ref": "pk.r"}}
    return wire_runner("mistral_tests", action, meta["entry_point"],
                       entry_point if entry_point is not None else
                       os.path.join(pack_dir, "actions", meta["entry_point"]), ctx, rp, params_meta)


def start(action: str, params: Dict[str, Any], **kw: Any) -> Tuple[mistral_v2.MistralRunner, Dict[str, Any]]:
    runner = make_runner(action, **kw)
    status, result, ctx = runner.run(params)
    assert status == "running", result
    # Empty on purpose: StackStorm stores a non-empty run() result over a final one pushed meanwhile.
    assert result == {}
    return runner, ctx


def wait(querier: query.MistralResultsQuerier, runner: mistral_v2.MistralRunner, ctx: Dict[str, Any],
         statuses: Iterable[str], timeout: float = 60.0) -> Tuple[str, Dict[str, Any]]:
    """Poll until the status is one of `statuses` (a hang guard, not a timing assertion)."""
    wanted = set(statuses)
    deadline = time.monotonic() + timeout
    while True:
        status, result = querier.query(runner.execution_id, ctx["mistral"])
        if status in wanted:
            return status, result
        if time.monotonic() > deadline:
            pytest.fail("execution %s still %s (wanted %s): %s" % (runner.execution_id, status, wanted, result))
        time.sleep(0.2)


def by_name(result: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {t["name"]: t for t in result["tasks"]}


def test_sequential_workflow_succeeds_with_output_and_task_results(querier):
    runner, ctx = start("sequential", {"who": "Bob"})
    assert ctx["mistral"]["workflow_name"] == "mistral_tests.sequential"
    assert ctx["mistral"]["workbook_name"] is None
    status, result = wait(querier, runner, ctx, ["succeeded", "failed"])
    assert status == "succeeded", result
    assert output_of(result) == {"greeting": "Hello, Bob", "final": "Hello, Bob!"}
    tasks = by_name(result)
    assert tasks["greet"]["result"] == "Hello, Bob"
    assert tasks["shout"]["input"] == {"output": "Hello, Bob!"}
    assert tasks["shout"]["published"] == {"final": "Hello, Bob!"}
    assert all(t["state"] == "SUCCESS" and t["workflow_execution_id"] == ctx["mistral"]["execution_id"]
               for t in result["tasks"])


def test_parallel_workflow_joins_branches(querier):
    runner, ctx = start("parallel", {"n": 2})
    status, result = wait(querier, runner, ctx, ["succeeded", "failed"])
    assert status == "succeeded", result
    assert output_of(result) == {"total": 12}
    assert {n: t["result"] for n, t in by_name(result).items() if n != "join"} == {"a": 2, "b": 4, "c": 6}


def test_workbook_result_lists_root_tasks_and_nested_format_subworkflow_tasks(querier):
    runner, ctx = start("workbook", {"items": ["a", "b", "c"]})
    assert ctx["mistral"]["workbook_name"] == "mistral_tests.workbook"
    assert ctx["mistral"]["workflow_name"] == "mistral_tests.workbook.main"
    status, result = wait(querier, runner, ctx, ["succeeded", "failed"])
    assert status == "succeeded", result
    assert output_of(result) == {"upper": ["A", "B", "C"]}
    each = by_name(result)["each"]
    assert each["result"] == [{"said": "A"}, {"said": "B"}, {"said": "C"}]
    assert [t["name"] for t in result["tasks"]] == ["each"]  # the root's tasks, as StackStorm's
    assert result["extra"] == {"state": "SUCCESS", "state_info": None}
    with mistral_options(result_format="nested"):
        status, nested = querier.query(runner.execution_id, ctx["mistral"])
    assert status == "succeeded" and nested["output"] == {"upper": ["A", "B", "C"]}
    says = [t for t in nested["tasks"] if t["name"] == "say"]
    assert sorted(t["result"] for t in says) == ["A", "B", "C"]
    assert all(t["workflow_name"] == "mistral_tests.workbook.shout" for t in says)


def test_failing_workflow_reports_task_error(querier):
    runner, ctx = start("failing", {})
    status, result = wait(querier, runner, ctx, ["succeeded", "failed"])
    assert status == "failed"
    assert "disk on fire" in failure_of(result) and result["extra"]["state"] == "ERROR"
    assert "disk on fire" in result["result"]  # Mistral's output of a failed workflow
    tasks = by_name(result)
    assert tasks["ok"]["state"] == "SUCCESS"
    assert tasks["boom"]["state"] == "ERROR" and "disk on fire" in tasks["boom"]["state_info"]


def test_st2_context_is_visible_to_the_workflow(querier):
    runner, ctx = start("context", {})
    status, result = wait(querier, runner, ctx, ["succeeded", "failed"])
    assert status == "succeeded", result
    assert output_of(result) == {"st2_execution_id": runner.execution_id, "user": "stanley",
                                "api_url": ST2_API_URL, "has_token": True}
    assert runner.auth_token.token not in repr(result)


def test_retried_start_reuses_the_mistral_execution(api):
    runner = make_runner("sequential")
    first = runner.run({"who": "once"})
    second = runner.run({"who": "once"})
    assert first[2]["mistral"]["execution_id"] == second[2]["mistral"]["execution_id"]
    assert len(api.find_executions_by_description([query.description_for(runner.execution_id)])) == 1


def test_query_many_answers_several_executions(querier):
    started = [start("sequential", {"who": "w%d" % i}) for i in range(3)] + [start("failing", {})]
    items = [(r.execution_id, ctx["mistral"]) for r, ctx in started]
    deadline = time.monotonic() + 60
    while True:
        answer = querier.query_many(items)
        if all(s in ("succeeded", "failed") for s, _ in answer.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    statuses = [answer[r.execution_id][0] for r, _ in started]
    assert statuses == ["succeeded", "succeeded", "succeeded", "failed"]
    assert [answer[r.execution_id][1]["greeting"] for r, _ in started[:3]] == \
        ["Hello, w0", "Hello, w1", "Hello, w2"]


def test_execution_deleted_in_mistral_is_reported_failed(api, querier):
    runner, ctx = start("sequential", {"who": "gone"})
    wait(querier, runner, ctx, ["succeeded"])
    api.client.executions.delete(ctx["mistral"]["execution_id"])
    status, result = querier.query(runner.execution_id, ctx["mistral"])
    assert status == "failed"
    assert "no longer exists" in result["error"] and ctx["mistral"]["execution_id"] in result["error"]


def _copy_pack(tmp_path) -> str:
    dst = str(tmp_path / "mistral_tests")
    shutil.copytree(PACK_DIR, dst)
    return dst


def _pack_with(tmp_path, name: str, workflow: str) -> str:
    """A copy of the test pack with one more mistral-v2 action `name` running `workflow`."""
    pack = _copy_pack(tmp_path)
    with open(os.path.join(pack, "actions", "workflows", name + ".yaml"), "w") as fh:
        fh.write(workflow)
    with open(os.path.join(pack, "actions", name + ".yaml"), "w") as fh:
        yaml.safe_dump({"name": name, "pack": "mistral_tests", "runner_type": "mistral-v2",
                        "entry_point": "workflows/%s.yaml" % name, "parameters": {}}, fh)
    return pack


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda text: text + "\n  bad: [unclosed\n", "not valid YAML"),
        (lambda text: text.replace("mistral_tests.sequential:", "mistral_tests.other:"),
         'must be named after the action: "mistral_tests.sequential"'),
        (lambda text: text.replace("on-success:", "on-sucess:"), "Mistral rejected the request"),
    ],
    ids=["invalid-yaml", "misnamed", "invalid-dsl"],
)
def test_bad_definition_fails_with_message_and_starts_nothing(tmp_path, api, mutate, message):
    pack = _copy_pack(tmp_path)
    path = os.path.join(pack, "actions", "workflows", "sequential.yaml")
    with open(path) as fh:
        text = fh.read()
    with open(path, "w") as fh:
        fh.write(mutate(text))
    runner = make_runner("sequential", pack_dir=pack)
    status, result, ctx = runner.run({"who": "x"})
    assert status == "failed"
    assert message in result["error"], result
    assert "mistral" not in ctx
    assert api.find_executions_by_description([query.description_for(runner.execution_id)]) == []


def test_missing_entry_point_file_fails_with_message():
    runner = make_runner("sequential", entry_point="/nonexistent/pack/actions/workflows/x.yaml")
    status, result, _ = runner.run({"who": "x"})
    assert status == "failed"
    assert 'Workflow definition file "/nonexistent/pack/actions/workflows/x.yaml" does not exist' in result["error"]


def test_bad_parameters_fail_with_message():
    status, result, _ = make_runner("sequential").run({"whom": "x"})
    assert status == "failed"
    assert 'unexpected parameter(s) "whom"' in result["error"]
    assert 'missing required parameter(s) "who"' in result["error"]


def test_workbook_workflow_param_must_exist():
    runner = make_runner("workbook", runner_params={"workflow": "mistral_tests.workbook.nope"})
    status, result, _ = runner.run({})
    assert status == "failed"
    assert "mistral_tests.workbook.main, mistral_tests.workbook.shout" in result["error"]


def test_workflow_input_rejected_by_mistral_is_explained():
    runner = make_runner("sequential", runner_params={"context": {"surprise": 1}})
    status, result, _ = runner.run({"who": "x"})
    assert status == "failed"
    assert "surprise" in result["error"] and result["error_type"] == "MistralAPIError"


def test_definition_is_updated_and_kind_swapped(tmp_path, api):
    pack = _copy_pack(tmp_path)
    wf_path = os.path.join(pack, "actions", "workflows", "sequential.yaml")
    name = "mistral_tests.swapme"
    wf_text = "version: '2.0'\n%s:\n  tasks:\n    a: {action: std.noop}\n" % name
    wb_text = "version: '2.0'\nname: %s\nworkflows:\n  only:\n    tasks:\n      b: {action: std.noop}\n" % name
    for text, kind in [(wf_text, "workflow"), (wf_text.replace("a:", "a2:"), "workflow"),
                       (wb_text, "workbook"), (wf_text, "workflow")]:
        with open(wf_path, "w") as fh:
            fh.write(text)
        prepared = definitions.prepare(wf_path, name)
        definitions.sync(api, prepared)
        if kind == "workflow":
            assert api.get_workflow(name)["definition"] == prepared.text
        else:
            assert api.get_workbook(name)["definition"] == prepared.text
            assert api.get_workflow(name + ".only")


REVERSE = """version: '2.0'
mistral_tests.reverse:
  type: reverse
  output:
    b: <% $.b %>
  tasks:
    a:
      action: std.echo
      input: {output: first}
      publish: {a: <% task(a).result %>}
    b:
      action: std.echo output="<% $.a %> then second"
      requires: [a]
      publish: {b: <% task(b).result %>}
    unrelated:
      action: std.fail
"""


def test_reverse_workflow_runs_up_to_the_task_parameter(tmp_path, querier):
    pack = _pack_with(tmp_path, "reverse", REVERSE)
    runner, ctx = start("reverse", {}, pack_dir=pack, runner_params={"task": "b"})
    status, result = wait(querier, runner, ctx, ["succeeded", "failed"])
    assert status == "succeeded", result
    assert output_of(result) == {"b": "first then second"}
    assert sorted(by_name(result)) == ["a", "b"]


SLEEPY = """version: '2.0'
mistral_tests.sleepy:
  tasks:
    nap:
      action: std.sleep seconds=2
      on-success: [after]
    after:
      action: std.noop
"""


def _sleepy_pack(tmp_path) -> str:
    return _pack_with(tmp_path, "sleepy", SLEEPY)


def test_pause_then_resume_then_succeed(tmp_path, querier):
    runner, ctx = start("sleepy", {}, pack_dir=_sleepy_pack(tmp_path))
    runner.liveaction.context = ctx
    wait(querier, runner, ctx, ["running"])
    status, _, pctx = runner.pause()
    assert status in ("pausing", "paused")
    assert pctx["mistral"] == ctx["mistral"]
    status, result = wait(querier, runner, ctx, ["paused"])
    assert "after" not in by_name(result)
    status, _, _ = runner.resume()
    assert status == "running"
    status, result = wait(querier, runner, ctx, ["succeeded", "failed"])
    assert status == "succeeded" and by_name(result)["after"]["state"] == "SUCCESS"


def test_cancel_lets_running_task_finish(tmp_path, querier):
    runner, ctx = start("sleepy", {}, pack_dir=_sleepy_pack(tmp_path))
    runner.liveaction.context = ctx
    status, _, _ = runner.cancel()
    assert status in ("canceling", "canceled")
    status, result = wait(querier, runner, ctx, ["canceled"])
    assert "after" not in by_name(result)


def test_pause_of_finished_execution_reports_its_final_status(querier):
    # A pause racing the workflow's end answers the final status, never "pausing" (docs/operations.md).
    runner, ctx = start("sequential", {"who": "done"})
    runner.liveaction.context = ctx
    wait(querier, runner, ctx, ["succeeded"])
    status, _, _ = runner.pause()
    assert status == "succeeded"


ASYNC = """version: '2.0'
mistral_tests.waiter:
  output:
    got: <% $.got %>
  tasks:
    wait_for_st2:
      action: std.async_noop
      publish:
        got: <% task(wait_for_st2).result %>
"""


def _start_waiter(tmp_path, api) -> Tuple[mistral_v2.MistralRunner, Dict[str, Any], str]:
    """Start a workflow whose only task waits for an external result; return its callback URL."""
    pack = _pack_with(tmp_path, "waiter", ASYNC)
    runner, ctx = start("waiter", {}, pack_dir=pack)
    deadline = time.monotonic() + 30
    action_ex_id = None
    while action_ex_id is None and time.monotonic() < deadline:
        tasks = api.list_tasks(ctx["mistral"]["execution_id"])
        if tasks:
            ae = api.client.action_executions.list(tasks[0]["id"])
            action_ex_id = ae[0].id if ae else None
        time.sleep(0.1)
    assert action_ex_id, "the async task never got an action execution"
    return runner, ctx, "%s/action_executions/%s" % (api.url, action_ex_id)


def test_failed_child_fails_the_waiting_task_with_its_error(tmp_path, api, querier):
    runner, ctx, url = _start_waiter(tmp_path, api)
    assert MistralCallbackHandler.callback(url, {}, "failed", {"stderr": "permission denied"}) is True
    status, result = wait(querier, runner, ctx, ["succeeded", "failed"])
    assert status == "failed"
    assert "permission denied" in failure_of(result)
    assert by_name(result)["wait_for_st2"]["state"] == "ERROR"


def test_st2_action_refs_reach_mistral_as_st2_action(tmp_path, api):
    path = str(tmp_path / "wf.yaml")
    with open(path, "w") as fh:
        fh.write("version: '2.0'\nmistral_tests.proxy:\n  tasks:\n"
                 "    run:\n      action: core.local cmd=\"echo hi\"\n"
                 "    echo:\n      action: std.echo output=ok\n")
    prepared = definitions.prepare(path, "mistral_tests.proxy", mistral_actions=api.action_names)
    definitions.sync(api, prepared)
    stored = yaml.safe_load(api.get_workflow("mistral_tests.proxy")["definition"])
    tasks = stored["mistral_tests.proxy"]["tasks"]
    assert tasks["run"] == {"action": "st2.action", "input": {"ref": "core.local", "parameters": {"cmd": "echo hi"}}}
    assert tasks["echo"] == {"action": "std.echo output=ok"}


def test_callback_completes_the_waiting_task_once(tmp_path, api, querier):
    runner, ctx, url = _start_waiter(tmp_path, api)
    assert MistralCallbackHandler.callback(url, {}, "succeeded", {"stdout": "ok", "code": 0}) is True
    assert MistralCallbackHandler.callback(url, {}, "failed", {"error": "late"}) is False
    status, result = wait(querier, runner, ctx, ["succeeded", "failed"])
    assert status == "succeeded", result
    assert result["got"] == {"stdout": "ok", "code": 0}  # task(x).result is the st2 result
    assert by_name(result)["wait_for_st2"]["result"] == {"stdout": "ok", "code": 0}


def test_unreachable_mistral_fails_start_with_clear_message():
    opts = mistral_opts(retry_attempts=2, retry_exp_msec=10, jitter_interval=0)
    dead = MistralAPI(url="http://127.0.0.1:9/v2", conf=opts)
    runner = make_runner("sequential")
    runner.api = dead
    status, result, _ = runner.run({"who": "x"})
    assert status == "failed"
    assert result["error"].startswith("Mistral unreachable at http://127.0.0.1:9/v2")
    with pytest.raises(MistralUnreachableError):
        query.MistralResultsQuerier(api=dead, conf=opts).query("x", {"execution_id": "y"})
