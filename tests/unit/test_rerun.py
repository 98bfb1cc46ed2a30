"""Unit tests of re-run/resume planning and validation (mistral_v2.rerun, resume, inbound_context)."""
from __future__ import annotations

import json
import types
from typing import Any, Dict, List, Optional

import pytest
import yaml
from fake_mistral import MistralReads
from oslo_config import cfg

from mistral_v2 import config, inbound_context, mistral_v2, rerun, results, resume_from_next, task_paths, workflow_spec
from mistral_v2.exceptions import InvalidOperationError, MissingRequirementsError, RerunError

PARALLEL = """
version: '2.0'
wf:
  output:
    out: <% $.r3 %>
  tasks:
    t1:
      action: std.noop
      publish: {g: 1}
      on-success: [t3, t4]
    t3:
      action: std.noop
      publish: {r3: <% task().result %>, spare: 1}
      on-success: [t5]
    t4:
      action: std.noop
      publish: {r4: 1}
      on-success: [t6]
    t5:
      action: std.echo output=<% $.get('spare') %>
    t6:
      action: std.echo output="{{ _.r4 }}"
    wi:
      with-items: i in <% $.g %>
      action: std.noop
"""


class FakeAPI(MistralReads):
    """In-memory stand-in for MistralAPI recording every mutating call."""

    def __init__(self) -> None:
        super().__init__()
        self.workflows: Dict[str, Dict[str, Any]] = {}
        self.action_executions: Dict[str, List[Dict[str, Any]]] = {}
        self.calls: List[tuple] = []
        self.fail_rerun_of: Optional[str] = None

    def add_execution(self, ex_id: str, state: str, env: Optional[Dict] = None, **kw: Any) -> Dict[str, Any]:
        ex = {"id": ex_id, "state": state, "params": json.dumps({"env": env or {}}), **kw}
        self.executions[ex_id] = ex
        return ex

    def add_task(self, ex_id: str, name: str, state: str, workflow: str = "wf", **kw: Any) -> Dict[str, Any]:
        t = {"id": "%s-%s" % (ex_id, name), "name": name, "state": state, "workflow_execution_id": ex_id,
             "workflow_name": workflow, "workflow_id": workflow, "created_at": "2026-01-01 00:00:00", **kw}
        self.tasks.setdefault(ex_id, []).append(t)
        return t

    # MistralAPI methods used by the modules under test (reads of executions and tasks: MistralReads)
    def get_workflow(self, ref: str) -> Dict[str, Any]:
        return self.workflows[ref]

    def list_task_action_executions(self, task_id: str) -> List[Dict[str, Any]]:
        return list(self.action_executions.get(task_id, []))

    def update_execution(self, ex_id: str, state: Optional[str] = None, env: Optional[Dict] = None) -> Dict:
        self.calls.append(("update_execution", ex_id, state, env))
        if env:  # as Mistral without the plugin's batch fix: env merged, nothing removes it
            params = json.loads(self.executions[ex_id]["params"])
            params["env"] = dict(params.get("env") or {}, **env)
            self.executions[ex_id]["params"] = json.dumps(params)
        return self.executions[ex_id]

    def rerun_task(self, task_id: str, reset: bool = True, env: Optional[Dict] = None) -> Dict:
        if task_id == self.fail_rerun_of:
            raise RuntimeError("Mistral said no")
        self.calls.append(("rerun_task", task_id, reset))
        return {}

    def skip_task(self, task_id: str, env: Optional[Dict] = None) -> Dict:
        self.calls.append(("skip_task", task_id))
        return {}


def parallel_api(wf_state: str = "ERROR") -> FakeAPI:
    api = FakeAPI()
    api.workflows["wf"] = {"name": "wf", "definition": PARALLEL}
    api.add_execution("ex", wf_state, env={"old": 1}, input=json.dumps({"x": 1}))
    api.add_task("ex", "t1", "SUCCESS", published=json.dumps({"g": 1}))
    api.add_task("ex", "t3", "ERROR", runtime_context=json.dumps({"triggered_by": [{"task_id": "ex-t1"}]}))
    api.add_task("ex", "t4", "ERROR")
    api.add_task("ex", "wi", "ERROR")
    return api


CTX = {"mistral": {"execution_id": "ex"}}
ENV = {"st2_execution_id": "new", "__actions": {"st2.action": {"st2_context": {"auth_token": "tok"}}}}


# -- reset names -----------------------------------------------------------------------------------


def test_reset_defaults_to_every_task_and_no_reset_turns_it_off():
    assert rerun.check_reset_names(["a", "b"], None, None) == {"a": True, "b": True}
    assert rerun.check_reset_names(["a", "b"], ["a"], None) == {"a": True, "b": False}
    assert rerun.check_reset_names(["a", "b"], None, ["b"]) == {"a": True, "b": False}


def test_reset_names_outside_tasks_are_refused_together():
    with pytest.raises(RerunError) as err:
        rerun.check_reset_names(["a"], ["x"], ["y"])
    assert str(err.value) == "Cannot re-run: --no-reset/reset names task 'y', task 'x' not in --tasks (a)."
    assert err.value.offenders == {"x": "not in --tasks", "y": "not in --tasks"}
    with pytest.raises(RerunError, match="no task names given"):
        rerun.check_reset_names([], None, None)


# -- rerun_tasks -------------------------------------------------------------------------------------


def test_rerun_updates_root_env_then_reruns_each_task():
    api = parallel_api()
    rerun.rerun_tasks(api, CTX, ["t3", "t4"], env=ENV, overrides={"fix": 2})
    batch = {"ex": {"primary": "ex-t3", "for": "new", "tasks": [
        {"task_execution_id": "ex-t3", "reset": True}, {"task_execution_id": "ex-t4", "reset": True}]}}
    assert api.calls == [("update_execution", "ex", None, dict(ENV, fix=2, __st2_rerun_batch=batch)),
                         ("rerun_task", "ex-t3", True), ("rerun_task", "ex-t4", True)]


def test_every_offender_is_named_in_one_error_and_nothing_changes():
    api = parallel_api(wf_state="RUNNING")
    with pytest.raises(RerunError) as err:
        rerun.rerun_tasks(api, CTX, ["t1", "t3", "nope"], env=ENV)
    assert str(err.value) == ("Cannot re-run: workflow execution ex is RUNNING, not ERROR, task 't1' is "
                              "SUCCESS, task 'nope' does not exist (tasks at this level: t1, t3, t4, wi).")
    assert err.value.offenders == {"<workflow>": "RUNNING", "t1": "SUCCESS", "nope": "does not exist"}
    assert api.calls == []


def test_paused_workflow_refusal_explains_mistral_ignores_reruns():
    api = parallel_api(wf_state="PAUSED")
    with pytest.raises(RerunError, match=r"is PAUSED, not ERROR \(Mistral ignores task re-runs"):
        rerun.rerun_tasks(api, CTX, ["t3"])
    assert api.calls == []


def test_no_reset_is_allowed_for_with_items_only():
    api = parallel_api()
    with pytest.raises(RerunError) as err:
        rerun.rerun_tasks(api, CTX, ["t3", "wi"], no_reset=["t3", "wi"])
    assert str(err.value) == ("Cannot re-run: --no-reset applies only to with-items tasks; "
                              "task 't3' is not a with-items task.")
    assert api.calls == []
    rerun.rerun_tasks(api, CTX, ["wi"], no_reset=["wi"])
    assert api.calls == [("rerun_task", "ex-wi", False)]


def test_stackstorm_request_without_reset_reruns_only_failed_items_of_with_items_tasks():
    """StackStorm's API drops an empty `reset` (st2client: --no-reset on every task): with-items
    tasks re-run their failed items only, other tasks are re-run as usual (no refusal)."""
    api = parallel_api()
    rerun.rerun_tasks(api, CTX, ["t3", "wi"], unset_reset_means_none=True)
    assert [c for c in api.calls if c[0] == "rerun_task"] == [("rerun_task", "ex-t3", True),
                                                              ("rerun_task", "ex-wi", False)]
    api = parallel_api()  # an explicit reset list still decides
    rerun.rerun_tasks(api, CTX, ["t3", "wi"], ["t3", "wi"], unset_reset_means_none=True)
    assert [c for c in api.calls if c[0] == "rerun_task"] == [("rerun_task", "ex-t3", True),
                                                              ("rerun_task", "ex-wi", True)]


def test_reserved_env_keys_cannot_be_overridden():
    api = parallel_api()
    with pytest.raises(RerunError, match="reserved env keys: __actions, st2_execution_id"):
        rerun.rerun_tasks(api, CTX, ["t3"], overrides={"st2_execution_id": "x", "__actions": {}})
    assert api.calls == []


def test_missing_mistral_execution_in_original_context():
    with pytest.raises(InvalidOperationError, match="context.mistral.execution_id is missing"):
        rerun.rerun_tasks(FakeAPI(), {}, ["t3"])


def test_a_refused_second_rerun_names_what_was_already_rerun():
    api = parallel_api()
    api.fail_rerun_of = "ex-t4"
    with pytest.raises(RerunError, match=r"Re-run of t4 failed after t3 were re-run: Mistral said no"):
        rerun.rerun_tasks(api, CTX, ["t3", "t4"])


def nested_api() -> FakeAPI:
    api = FakeAPI()
    api.add_execution("root", "ERROR")
    api.add_task("root", "task1", "ERROR")
    sub = api.add_execution("sub", "ERROR")
    api.subs["root-task1"] = [sub]
    api.add_task("sub", "subtask1", "ERROR", workflow="wb.sub")
    api.add_task("sub", "subtask0", "SUCCESS", workflow="wb.sub")
    return api


def test_dotted_names_resolve_through_subworkflows():
    api = nested_api()
    found, problem = task_paths.resolve_task(api, api.get_execution("root"), "task1.subtask1")
    assert problem is None and [f.task_id for f in found] == ["sub-subtask1"]
    assert found[0].root_execution_id == "root" and found[0].via is None
    _, problem = task_paths.resolve_task(api, api.get_execution("root"), "task1.x")
    assert problem == "task 'task1.x' does not exist (tasks in task1: subtask0, subtask1)"
    _, problem = task_paths.resolve_task(api, api.get_execution("root"), "task1.subtask0.deeper")
    assert problem == "task 'task1.subtask0' started no sub-workflow, so 'task1.subtask0.deeper' does not exist"
    _, problem = task_paths.resolve_task(api, api.get_execution("root"), "task1..x")
    assert problem == "task name 'task1..x' is malformed"


def test_nested_rerun_updates_the_root_env_and_reruns_the_subtask():
    api = nested_api()
    rerun.rerun_tasks(api, {"mistral": {"execution_id": "root"}}, ["task1.subtask1"], env=ENV)
    assert api.calls == [("update_execution", "root", None, ENV), ("rerun_task", "sub-subtask1", True)]


def test_child_stackstorm_workflow_is_rerun_through_its_st2_action_task():
    api = FakeAPI()
    api.add_execution("root", "ERROR")
    api.add_task("root", "call", "ERROR")
    api.action_executions["root-call"] = [{"id": "ae-old"}, {"id": "ae-new"}]
    api.add_execution("child", "ERROR", env={"st2_execution_id": "child-st2"})
    api.add_task("child", "c1", "ERROR")
    asked: List[str] = []

    def resolve(ae_id: str) -> Optional[str]:
        asked.append(ae_id)
        return "child" if ae_id == "ae-new" else None

    rerun.rerun_tasks(api, {"mistral": {"execution_id": "root"}}, ["call.c1"], env=ENV,
                      overrides={"k": 1}, resolve_st2_child=resolve)
    assert asked == ["ae-new"]
    (update, rerun_call) = api.calls
    assert rerun_call == ("rerun_task", "root-call", True)
    assert update[:3] == ("update_execution", "root", None)
    hint = update[3]["__actions"]["st2.action"]["st2_context"][rerun.RERUN_CHILDREN_KEY]
    assert hint == {"root-call": {"action_execution_id": "ae-new", "mistral_execution_id": "child",
                                  "tasks": ["c1"], "reset": ["c1"], "context": {"k": 1},
                                  "parent_execution_id": ENV.get("st2_execution_id")}}
    assert update[3]["k"] == 1 and "child" not in [c[1] for c in api.calls]
    assert ENV["__actions"]["st2.action"]["st2_context"] == {"auth_token": "tok"}   # caller's env not mutated


def test_child_stackstorm_workflow_task_must_have_failed_with_its_parent():
    api = FakeAPI()
    api.add_execution("root", "ERROR")
    api.add_task("root", "call", "SUCCESS")
    api.action_executions["root-call"] = [{"id": "ae"}]
    api.add_execution("child", "ERROR")
    api.add_task("child", "c1", "ERROR")
    with pytest.raises(RerunError) as err:
        rerun.rerun_tasks(api, {"mistral": {"execution_id": "root"}}, ["call.c1"],
                          resolve_st2_child=lambda ae: "child")
    assert "task 'call' (which started the StackStorm workflow holding 'call.c1') is SUCCESS" in str(err.value)


# -- definitions / requirements ------------------------------------------------------------------------


def test_referenced_variables_covers_yaql_jinja_and_ctx_forms():
    found = workflow_spec.referenced_variables({
        "a": "<% $.one + $.get('two') %>", "b": ["{{ _.three }}", "<% ctx().four %>", "<% ctx(five) %>"],
        "c": "{{ ctx('six') }} <% ctx().get('seven') %> my_.nope $.8bad"})
    assert found == {"one", "two", "three", "four", "five", "six", "seven"}


def test_publish_keys_include_advanced_on_success_and_on_complete_publish():
    spec = {"publish": {"a": 1}, "on-success": {"publish": {"branch": {"b": 1}, "global": {"c": 1}}, "next": "x"},
            "on-complete": {"publish": {"atomic": {"d": 1}}}, "on-error": {"publish": {"branch": {"e": 1}}}}
    assert workflow_spec.publish_keys(spec) == ["a", "b", "c", "d"]


def test_requirements_are_published_vars_read_downstream_or_by_output():
    body = workflow_spec.parse_workflow_body(PARALLEL, "wf")
    assert workflow_spec.requirements(body, "t3") == ["r3", "spare"]   # r3 via output, spare via t5
    assert workflow_spec.requirements(body, "t4") == ["r4"]            # Jinja _.r4 in t6
    assert workflow_spec.requirements(body, "t1") == []                 # g only read by wi (not downstream)


def test_next_task_names_skip_engine_commands_and_read_every_form():
    spec = {"on-success": ["a", {"b": "<% $.x %>"}, "fail msg=boom", "pause"],
            "on-complete": {"next": ["c", "a"]}, "on-error": ["d"]}
    assert workflow_spec.next_task_names(spec) == ["a", "b", "c"]


def test_parse_workflow_body_accepts_mistral_forms():
    assert workflow_spec.parse_workflow_body("version: '2.0'\nwf:\n  tasks: {a: {}}\n", "wf")["tasks"] == {"a": {}}
    assert workflow_spec.parse_workflow_body("sub:\n  tasks: {b: {}}\n", "wb.sub")["tasks"] == {"b": {}}
    with pytest.raises(Exception, match="not found in its definition"):
        workflow_spec.parse_workflow_body("a: {tasks: {}}\nb: {tasks: {}}\n", "c")


def test_add_resume_hooks_publishes_supplied_values_on_skip():
    wb = {"version": "2.0", "name": "pk.wb", "workflows": {"main": {"tasks": {
        "t": {"action": "std.noop", "publish": {"v": 1}, "on-success": ["a"], "on-complete": ["b"]},
        "plain": {"action": "std.noop"},
        "own": {"action": "std.noop", "publish": {"w": 1}, "publish-on-skip": {"w": 2}}}}}}
    out = workflow_spec.add_resume_hooks(wb)
    tasks = out["workflows"]["main"]["tasks"]
    assert tasks["t"]["publish-on-skip"] == {
        "v": "<% env().get('__st2_resume', {}).get('pk.wb.main', {}).get('t', {}).get('v') %>"}
    assert tasks["t"]["on-skip"] == ["a", "b"]
    assert tasks["plain"] == {"action": "std.noop"}
    assert tasks["own"]["publish-on-skip"] == {"w": 2}
    assert workflow_spec.add_resume_hooks(out) == out                     # idempotent
    assert "publish-on-skip" not in wb["workflows"]["main"]["tasks"]["t"]   # input untouched
    flat = workflow_spec.add_resume_hooks(yaml.safe_load(PARALLEL))
    assert workflow_spec.has_resume_hook(flat["wf"]["tasks"]["t3"]) and not workflow_spec.has_resume_hook({})


# -- resume_from_next ---------------------------------------------------------------------------------------


def hooked_parallel_api() -> FakeAPI:
    api = parallel_api()
    api.workflows["wf"]["definition"] = yaml.safe_dump(workflow_spec.add_resume_hooks(yaml.safe_load(PARALLEL)))
    return api


def test_resume_from_next_lists_missing_variables_per_task():
    api = hooked_parallel_api()
    with pytest.raises(MissingRequirementsError) as err:
        resume_from_next.resume_from_next(api, CTX, ["t3", "t4"], {"t3": {"r3": 1}})
    assert err.value.missing == {"t3": ["spare"], "t4": ["r4"]}
    assert api.calls == []


def test_resume_from_next_refuses_unknown_variables_and_stray_tasks():
    api = hooked_parallel_api()
    with pytest.raises(RerunError, match=r"task 't4' does not publish zz \(it publishes: r4\)"):
        resume_from_next.resume_from_next(api, CTX, ["t4"], {"t4": {"r4": 1, "zz": 2}})
    with pytest.raises(RerunError, match=r"variables given for 't9' which is not among the tasks"):
        resume_from_next.resume_from_next(api, CTX, ["t4"], {"t4": {"r4": 1}, "t9": {}})
    with pytest.raises(RerunError, match=r"Cannot resume: task 't1' is SUCCESS"):
        resume_from_next.resume_from_next(api, CTX, ["t1"], {})
    assert api.calls == []


def test_resume_from_next_needs_the_hook_in_the_uploaded_definition():
    api = parallel_api()
    with pytest.raises(RerunError, match="uploaded without the resume hook"):
        resume_from_next.resume_from_next(api, CTX, ["t4"], {"t4": {"r4": 1}})
    assert api.calls == []


def test_resume_from_next_puts_values_in_env_then_skips():
    api = hooked_parallel_api()
    resume_from_next.resume_from_next(api, CTX, ["t3", "t4"], {"t3": {"r3": 1, "spare": 2}, "t4": {"r4": 3}}, ENV)
    update, *skips = api.calls
    assert update[3][workflow_spec.RESUME_ENV_KEY] == {"wf": {"t3": {"r3": 1, "spare": 2}, "t4": {"r4": 3}}}
    assert update[3]["st2_execution_id"] == "new"
    assert skips == [("skip_task", "ex-t3"), ("skip_task", "ex-t4")]


# -- pause / inbound context -----------------------------------------------------------------------------


def test_published_before_follows_triggers_transitively_and_through_joins():
    tasks = {
        "a": {"id": "a", "published": '{"x": 1}'},
        "b": {"id": "b", "published": '{"y": 2, "x": 5}', "runtime_context": '{"triggered_by": [{"task_id": "a"}]}'},
        "c": {"id": "c", "published": '{"z": 3}', "runtime_context": '{"triggered_by": [{"task_id": "a"}]}'},
        "j": {"id": "j", "runtime_context": '{"triggered_by": [{"task_id": "b"}, {"task_id": "c"}]}'},
    }
    assert inbound_context.published_before(tasks, tasks["j"]) == {"x": 1, "y": 2, "z": 3}
    assert inbound_context.published_before(tasks, tasks["b"]) == {"x": 1}
    assert inbound_context.published_before(tasks, tasks["a"]) == {}


def test_inbound_context_masks_secrets():
    api = parallel_api()
    api.executions["ex"]["params"] = json.dumps({"env": dict(ENV, db_password="pw", region="eu")})
    api.executions["ex"]["input"] = json.dumps({"x": 1, "api_key": "k", "pin": 7})
    view = inbound_context.task_inbound_context(api, "ex", "t3", secret_names=["pin"])
    assert view["input"] == {"x": 1, "api_key": "********", "pin": "********"}
    assert view["env"]["db_password"] == "********" and view["env"]["region"] == "eu"
    assert view["env"]["__actions"]["st2.action"]["st2_context"]["auth_token"] == "********"
    assert view["published"] == {"g": 1}
    assert view["variables"] == {"x": 1, "api_key": "********", "pin": "********", "g": 1}
    with pytest.raises(RerunError, match=r"task 'nope' does not exist"):
        inbound_context.task_inbound_context(api, "ex", "nope")


def test_returned_execution_never_carries_the_auth_token():
    api = parallel_api()
    api.executions["ex"]["params"] = json.dumps({"env": ENV})
    ex = rerun.rerun_tasks(api, CTX, ["t3"], env=ENV)
    env = results.execution_env(ex)
    assert env["__actions"]["st2.action"]["st2_context"]["auth_token"] == "********"
    assert env["st2_execution_id"] == "new"


def test_st2_child_resolver_matches_callback_urls_level_by_level():
    children = {
        "orig": [{"id": "c1", "callback": {"url": "http://m/v2/action_executions/ae1"},
                  "context": {"mistral": {"execution_id": "m1"}}},
                 {"id": "c2", "callback": {"url": "http://m/v2/action_executions/ae2"},
                  "context": {"mistral": {"action_execution_id": "ae2"}}}],   # not a workflow
        "c1": [{"id": "g1", "context": {"mistral": {"action_execution_id": "ae3", "execution_id": "m3"}}}],
    }
    asked: List[str] = []

    def list_children(st2_id: str):
        asked.append(st2_id)
        return children.get(st2_id, [])

    resolve = task_paths.st2_child_resolver(list_children, "orig")
    assert resolve("ae1") == "m1" and asked == ["orig"]
    assert resolve("ae2") is None
    assert resolve("ae3") == "m3" and asked == ["orig", "c1"]
    assert resolve("nope") is None


def test_a_retried_rerun_refused_because_it_already_happened_counts_as_done():
    from mistral_v2.exceptions import MistralAPIError

    api = parallel_api()
    states = {"ex-t3": "RUNNING", "ex-t4": "ERROR"}
    api.get_task = lambda task_id: {"id": task_id, "state": states[task_id]}

    def refuse(task_id, reset=True, env=None):
        raise MistralAPIError("must be in ERROR", 400)

    api.rerun_task = refuse
    rerun.rerun_tasks(api, CTX, ["t3"])            # t3 already RUNNING: our first attempt got through
    with pytest.raises(MistralAPIError):
        rerun.rerun_tasks(api, CTX, ["t4"])        # still ERROR: a real refusal


@pytest.fixture
def st2_api_url():
    config.register_opts(cfg.CONF)
    cfg.CONF.set_override("api_url", "http://127.0.0.1:9/api/v1", "mistral")
    yield
    cfg.CONF.clear_override("api_url", "mistral")


def FakeRunner(api: FakeAPI, options: Dict[str, Any]) -> mistral_v2.MistralRunner:
    """A MistralRunner set up as StackStorm does for a re-run of execution st2-old."""
    runner = mistral_v2.get_runner()
    runner.api = api
    runner.execution_id = runner.liveaction_id = "st2-new"
    runner.context = {"user": "u", "re-run": options}
    runner.liveaction = types.SimpleNamespace(context=runner.context, notify={})
    runner.runner_parameters = {}
    runner.auth_token = "tok-new"
    runner.rerun_ex_ref = types.SimpleNamespace(id="st2-old", context={"mistral": {"execution_id": "ex",
                                                                                 "workflow_name": "wf"}})
    return runner


def test_runner_adapter_maps_options_and_keeps_the_original_mistral_execution(st2_api_url):
    api = parallel_api()
    runner = FakeRunner(api, {"ref": "st2-old", "tasks": ["wi"], "reset": [], "context": {"fix": 1}})
    status, result, ctx = runner.rerun_workflow({}, runner.context["re-run"])
    assert (status, result) == ("running", {})  # empty: StackStorm keeps a result pushed meanwhile
    assert ctx["mistral"] == {"execution_id": "ex", "workflow_name": "wf"} and ctx["user"] == "u"
    update, again = api.calls
    assert update[3]["st2_execution_id"] == "st2-new" and update[3]["fix"] == 1
    assert update[3]["__actions"]["st2.action"]["st2_context"]["parent"]["execution_id"] == "st2-new"
    assert again == ("rerun_task", "ex-wi", False)


def test_runner_adapter_resumes_from_next_when_asked(st2_api_url):
    api = hooked_parallel_api()
    runner = FakeRunner(api, {"ref": "st2-old", "tasks": ["t4"], "next": True, "published": {"t4": {"r4": 1}}})
    runner.rerun_workflow({}, runner.context["re-run"])
    assert api.calls[-1] == ("skip_task", "ex-t4")


def test_inbound_context_of_a_rerun_task_uses_the_definition_when_triggers_were_cleared():
    api = parallel_api()
    t3 = next(t for t in api.tasks["ex"] if t["name"] == "t3")
    t3["runtime_context"] = "{}"                     # what Mistral leaves after a re-run
    view = inbound_context.task_inbound_context(api, "ex", "t3")
    assert view["published"] == {"g": 1}
    assert inbound_context.task_inbound_context(api, "ex", "t1")["published"] == {}


def test_task_name_list_accepts_lists_and_names_the_field_it_refuses():
    assert task_paths.task_name_list(None, "tasks", RerunError) is None
    assert task_paths.task_name_list([" a", "b "], "tasks", RerunError) == ["a", "b"]
    assert task_paths.task_name_list("a, b,", '"tasks"', RerunError, comma_separated=True) == ["a", "b"]
    assert task_paths.task_name_list([], "tasks", RerunError) == []
    for bad in ("a,b", ["a", ""], ["a", 3], {"a": 1}):
        with pytest.raises(RerunError, match=r'^context\["re-run"\]\["tasks"\] must be a list of task names\.$'):
            task_paths.task_name_list(bad, 'context["re-run"]["tasks"]', RerunError)
