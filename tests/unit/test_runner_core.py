"""MistralRunner start/pause/resume/cancel against an in-memory fake MistralAPI."""
import types

import pytest
from oslo_config import cfg

from mistral_v2 import config, mistral_v2, rerun
from mistral_v2.exceptions import (
    InvalidOperationError,
    MistralAPIError,
    MistralUnreachableError,
    WorkflowNotFoundError,
)

WF = """version: '2.0'
pk.act:
  input: [who]
  tasks:
    t1:
      action: std.echo output=<% $.who %>
"""


class FakeAPI:
    def __init__(self):
        self.url = "http://fake-runner/v2"
        self.workflows = {}
        self.executions = []
        self.created = []
        self.updates = []
        self.tasks = []
        self.fail_create = None
        self.fail_update = None

    def action_names(self):
        return {"std.echo", "std.noop"}

    def get_workflow(self, name):
        if name not in self.workflows:
            raise WorkflowNotFoundError("workflow %s not found" % name, 404)
        return {"definition": self.workflows[name]}

    def delete_workbook(self, name):
        raise WorkflowNotFoundError("no", 404)

    def create_workflow(self, text):
        self.workflows["pk.act"] = text

    update_workflow = create_workflow

    def create_execution(self, workflow_name, workflow_input, description, execution_id=None, **params):
        if self.fail_create:
            raise self.fail_create
        found = [e for e in self.executions if execution_id and e["id"] == execution_id]
        if found:  # what Mistral does when POST /executions names an existing id
            return found[0]
        ex = {"id": execution_id or "mex-%d" % len(self.executions), "workflow_name": workflow_name,
              "description": description, "state": "RUNNING"}
        self.executions.append(ex)
        self.created.append((workflow_name, workflow_input, description, params))
        return ex

    def update_execution(self, ex_id, state=None, env=None):
        if self.fail_update:
            raise self.fail_update
        self.updates.append((ex_id, state))
        return {"id": ex_id, "state": state}

    def list_tasks(self, ex_id):
        return self.tasks

    def get_execution(self, ex_id):
        states = [state for (i, state) in self.updates if i == ex_id]
        return {"id": ex_id, "state": states[-1] if states else "RUNNING"}

    def list_executions(self, **filters):
        return []  # no workbook subworkflows


@pytest.fixture(autouse=True)
def mistral_conf():
    config.register_opts()
    cfg.CONF.set_override("api_url", "http://st2:9101/api/v1", "mistral")
    yield cfg.CONF.mistral
    cfg.CONF.clear_override("api_url", "mistral")
    cfg.CONF.clear_override("enable_polling", "mistral")


@pytest.fixture
def wf_file(tmp_path):
    p = tmp_path / "act.yaml"
    p.write_text(WF)
    return str(p)


def make_runner(entry_point, api, params_meta=None, runner_params=None, context=None, exec_id="st2ex1"):
    r = mistral_v2.get_runner()
    r.api = api
    r.runner_type = types.SimpleNamespace(name="mistral-v2", enabled=True)
    r.runner_parameters = runner_params if runner_params is not None else {"context": {}, "skip_notify": []}
    r.action = types.SimpleNamespace(pack="pk", name="act", ref="pk.act", entry_point="act.yaml",
                                     parameters=params_meta if params_meta is not None else
                                     {"who": {"type": "string", "required": True}})
    ctx = context if context is not None else {"user": "stanley", "trigger_instance": {"id": "ti1"}}
    r.liveaction = types.SimpleNamespace(id=exec_id, status="requested", context=ctx,
                                         parameters={}, result={"tasks": []}, callback={})
    r.liveaction_id = r.execution_id = exec_id
    r.entry_point = entry_point
    r.context = ctx
    r.auth_token = types.SimpleNamespace(token="tok-secret")
    r.rerun_ex_ref = None
    r.pre_run()
    return r


def test_start_creates_execution_with_st2_env(wf_file):
    api = FakeAPI()
    r = make_runner(wf_file, api, runner_params={"context": {"extra": 1, "who": "x"}})
    status, result, ctx = r.run({"who": "Bob"})
    assert status == "running" and result == {}  # empty: StackStorm keeps a result pushed meanwhile
    assert ctx["mistral"] == {"execution_id": mistral_v2.mistral_execution_id("st2ex1"),
                              "workflow_name": "pk.act", "workbook_name": None}
    assert ctx["user"] == "stanley"
    wf_name, wf_input, description, params = api.created[0]
    assert (wf_name, wf_input, description) == ("pk.act", {"extra": 1, "who": "Bob"}, "st2:st2ex1")
    env = params["env"]
    assert env["st2_execution_id"] == "st2ex1"
    st2_ctx = env["__actions"]["st2.action"]["st2_context"]
    assert st2_ctx["api_url"] == "http://st2:9101/api/v1"
    assert st2_ctx["endpoint"] == "http://st2:9101/api/v1/actionexecutions"
    assert st2_ctx["parent"]["execution_id"] == "st2ex1"
    assert st2_ctx["parent"]["trigger_instance"] == {"id": "ti1"}
    assert st2_ctx["auth_token"] == "tok-secret"
    assert params["notify"][0]["type"] == "st2"
    assert "tok-secret" not in repr(ctx) and "tok-secret" not in repr(result)


def test_a_child_workflow_keeps_the_parent_link_st2_action_put_in_its_context(wf_file):
    """StackStorm stores the runner's context with a shallow update: context["mistral"] must keep
    the calling task's ids next to the child's own Mistral execution."""
    link = {"action_execution_id": "ae-1", "task_execution_id": "te-1"}
    incoming = dict(link, workflow_execution_id="we-1")
    r = make_runner(wf_file, FakeAPI(), context={"mistral": incoming, "parent": {"execution_id": "p1"}})
    _, _, ctx = r.run({"who": "a"})
    assert ctx["mistral"] == dict(link, execution_id=mistral_v2.mistral_execution_id("st2ex1"),
                                  workflow_name="pk.act", workbook_name=None,
                                  parent={"workflow_execution_id": "we-1"})


def test_secret_parameter_names_go_to_the_query_context(wf_file):
    meta = {"who": {"type": "string", "required": True}, "pw": {"type": "string", "secret": True}}
    status, result, ctx = make_runner(wf_file, FakeAPI(), params_meta=meta).run({"who": "a", "pw": "hunter2"})
    assert ctx["mistral"]["secret_parameters"] == ["pw"]
    assert "hunter2" not in repr(ctx) and "hunter2" not in repr(result)


def test_polling_mode_sends_no_notify(wf_file, mistral_conf):
    cfg.CONF.set_override("enable_polling", True, "mistral")
    api = FakeAPI()
    make_runner(wf_file, api).run({"who": "Bob"})
    assert "notify" not in api.created[0][3]


def test_mistral_execution_id_is_a_stable_uuid():
    import uuid

    a = mistral_v2.mistral_execution_id("5f0c1e2d3a4b5c6d7e8f9a0b")
    assert a == mistral_v2.mistral_execution_id("5f0c1e2d3a4b5c6d7e8f9a0b")
    assert a != mistral_v2.mistral_execution_id("5f0c1e2d3a4b5c6d7e8f9a0c")
    assert str(uuid.UUID(a)) == a


def test_retried_start_does_not_duplicate(wf_file):
    api = FakeAPI()
    first = make_runner(wf_file, api).run({"who": "Bob"})
    second = make_runner(wf_file, api).run({"who": "Bob"})
    assert len(api.created) == 1
    assert first[2]["mistral"]["execution_id"] == second[2]["mistral"]["execution_id"]


def test_definition_uploaded_once_for_many_starts(wf_file):
    api = FakeAPI()
    make_runner(wf_file, api, exec_id="a").run({"who": "Bob"})
    api.workflows.clear()  # would be re-created if the runner uploaded again
    make_runner(wf_file, api, exec_id="b").run({"who": "Al"})
    assert api.workflows == {} and len(api.created) == 2


@pytest.mark.parametrize(
    "entry, params, meta, message, err_type",
    [
        ("/nonexistent/x.yaml", {"who": "a"}, None, "does not exist", "DefinitionError"),
        (None, {"who": "a"}, None, "set runner parameter workflow", "ConfigurationError"),
        ("WF", {"whom": "a"}, None, 'unexpected parameter(s) "whom"', "InvalidParametersError"),
        ("WF", {}, None, 'missing required parameter(s) "who"', "InvalidParametersError"),
    ],
)
def test_bad_input_fails_with_clear_message(wf_file, entry, params, meta, message, err_type):
    api = FakeAPI()
    r = make_runner(wf_file if entry == "WF" else entry, api, params_meta=meta)
    status, result, ctx = r.run(params)
    assert status == "failed"
    assert message in result["error"] and result["error_type"] == err_type
    assert api.created == [] and "mistral" not in ctx


def test_missing_api_url_is_a_configuration_error(wf_file):
    cfg.CONF.clear_override("api_url", "mistral")
    status, result, _ = make_runner(wf_file, FakeAPI()).run({"who": "a"})
    assert status == "failed" and "[mistral] api_url" in result["error"]


def test_unreachable_mistral_fails_the_start(wf_file):
    api = FakeAPI()
    api.fail_create = MistralUnreachableError("Mistral unreachable at http://fake/v2 ...")
    status, result, _ = make_runner(wf_file, api).run({"who": "a"})
    assert status == "failed" and result["error"].startswith("Mistral unreachable")


def test_registered_workflow_without_entry_point(wf_file):
    api = FakeAPI()
    api.workflows["other.wf"] = "x"
    r = make_runner("", api, runner_params={"workflow": "other.wf"}, params_meta={})
    status, _, ctx = r.run({})
    assert status == "running" and api.created[0][0] == "other.wf"
    r = make_runner("", api, runner_params={"workflow": "missing.wf"}, params_meta={}, exec_id="z")
    status, result, _ = r.run({})
    assert status == "failed" and 'Workflow "missing.wf" is not registered in Mistral' in result["error"]


@pytest.mark.parametrize(
    "method, state, tasks, expected",
    [
        ("pause", "PAUSED", [{"state": "RUNNING"}], "pausing"),
        ("pause", "PAUSED", [{"state": "SUCCESS"}], "paused"),
        ("resume", "RUNNING", [{"state": "RUNNING"}], "running"),
        ("cancel", "CANCELLED", [{"state": "RUNNING"}], "canceling"),
        ("cancel", "CANCELLED", [{"state": "SUCCESS"}], "canceled"),
    ],
)
def test_pause_resume_cancel_set_root_state(wf_file, method, state, tasks, expected):
    api = FakeAPI()
    api.tasks = tasks
    r = make_runner(wf_file, api, context={"mistral": {"execution_id": "mex-9"}})
    status, result, ctx = getattr(r, method)()
    assert status == expected
    assert api.updates == [("mex-9", state)]
    assert ctx["mistral"]["execution_id"] == "mex-9"


def test_pause_refused_by_mistral_is_invalid_operation(wf_file):
    api = FakeAPI()
    api.fail_update = MistralAPIError("Mistral rejected ... (HTTP 400): already SUCCESS", 400)
    r = make_runner(wf_file, api, context={"mistral": {"execution_id": "mex-9"}})
    r.raise_operation_errors = True  # as the host asks
    with pytest.raises(InvalidOperationError, match="Cannot pause execution st2ex1"):
        r.pause()


def test_cancel_without_mistral_execution_is_invalid_operation(wf_file):
    api = FakeAPI()
    api.get_execution = lambda ex_id: (_ for _ in ()).throw(WorkflowNotFoundError("not found", 404))
    r = make_runner(wf_file, api, context={})
    r.raise_operation_errors = True  # as the host asks
    r.start_grace = 0
    with pytest.raises(InvalidOperationError, match="no Mistral workflow execution"):
        r.cancel()


def test_an_operation_before_run_returned_acts_on_the_execution_run_creates(wf_file):
    """StackStorm shows "running" before run() returned the context with the Mistral execution."""
    api = FakeAPI()
    r = make_runner(wf_file, api, context={})
    status, _, _ = r.pause()
    assert status == "pausing" or status == "paused"
    assert api.updates == [(mistral_v2.mistral_execution_id("st2ex1"), "PAUSED")]


def test_rerun_with_tasks_delegates_to_rerun_module(wf_file, monkeypatch):
    seen = {}

    def rerun_tasks(api, original_context, tasks, reset, env, **kwargs):
        seen.update(tasks=tasks, reset=reset)
        return {}

    monkeypatch.setattr(rerun, "rerun_tasks", rerun_tasks)
    api = FakeAPI()
    r = make_runner(wf_file, api, context={"re-run": {"ref": "orig", "tasks": ["t1"], "reset": []}})
    r.rerun_ex_ref = types.SimpleNamespace(context={"mistral": {"execution_id": "old"}})
    status, _, ctx = r.run({"who": "a"})
    assert status == "running" and seen["tasks"] == ["t1"] and api.created == []


def test_runner_tells_rerun_that_a_missing_reset_means_none(wf_file, monkeypatch):
    seen = {}

    def rerun_tasks(api, original_context, tasks, reset, env, **kwargs):
        seen.update(reset=reset, **kwargs)
        return {}

    monkeypatch.setattr(rerun, "rerun_tasks", rerun_tasks)
    r = make_runner(wf_file, FakeAPI(), context={"re-run": {"ref": "orig", "tasks": ["wi"]}})
    r.rerun_ex_ref = types.SimpleNamespace(context={"mistral": {"execution_id": "old"}})
    assert r.run({"who": "a"})[0] == "running"
    assert seen["reset"] is None and seen["unset_reset_means_none"] is True


def test_get_metadata_reads_runner_yaml():
    meta = mistral_v2.get_metadata()  # one dict, as st2's register_runners reads it
    assert isinstance(meta, dict) and meta["name"] == "mistral-v2"
    assert set(meta["runner_parameters"]) >= {"context", "skip_notify", "task", "workflow"}
    assert meta["output_schema"]["type"] == "object"


def test_register_opts_is_idempotent_and_keeps_existing_options():
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.StrOpt("v2_base_url", default="http://st2-registered:8989/v2"), group="mistral")
    config.register_opts(conf)
    config.register_opts(conf)
    conf([], project="test")
    assert conf.mistral.v2_base_url == "http://st2-registered:8989/v2"
    assert conf.mistral.retry_attempts is None and conf.mistral.enable_polling is False
