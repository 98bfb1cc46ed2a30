"""st2mistral_compat with stand-in StackStorm modules: the patches, the extension routes' spec, the import hook,
the command."""
from __future__ import annotations

import sys
import types

import pytest

from st2mistral_compat import cli, hook, patches, spec


def test_add_workflow_runner_appends_in_place_once():
    module = types.SimpleNamespace(WORKFLOW_RUNNER_TYPES=["action-chain", "orquesta"])
    same_list = module.WORKFLOW_RUNNER_TYPES
    assert patches.add_workflow_runner(module) is True
    assert patches.add_workflow_runner(module) is False  # no-op where it is already listed
    assert same_list == ["action-chain", "orquesta", "mistral-v2"]


class _Spec:
    def __init__(self, tasks=None, reset=None, parameters=None):
        self.tasks, self.reset, self.parameters = tasks or [], reset or [], parameters or {}


def _rerun_module(runner: str, refuses: bool = True):
    """A stand-in of st2api's actionexecutions module: post() as StackStorm 3.9 orders its checks."""
    scheduled = []

    class Controller:
        exclude_fields = ["result"]
        ExecutionSpecificationAPI = _Spec

        def _get_one_by_id(self, id, exclude_fields, requester_user, permission_type):
            return types.SimpleNamespace(runner={"name": runner})

        def _handle_schedule_execution(self, liveaction_api, requester_user=None):
            scheduled.append(liveaction_api.context)
            return "scheduled"

        def post(self, spec_api, id, requester_user, no_merge=False, show_secrets=False):
            if (spec_api.tasks or spec_api.reset) and spec_api.parameters:
                raise ValueError("Parameters override is not supported when re-running task(s) for a workflow.")
            existing = self._get_one_by_id(id=id, exclude_fields=[], requester_user=None, permission_type=None)
            if refuses and spec_api.tasks and existing.runner["name"] != "orquesta":
                raise ValueError("Task option is only supported for Orquesta workflows.")
            context = {"re-run": {"ref": id}}
            if spec_api.tasks:
                context["re-run"]["tasks"] = spec_api.tasks
            if spec_api.reset:
                context["re-run"]["reset"] = spec_api.reset
            return self._handle_schedule_execution(liveaction_api=types.SimpleNamespace(context=context),
                                                   requester_user=requester_user)

    module = types.SimpleNamespace(ActionExecutionReRunController=Controller,
                                   action_execution_rerun_controller=Controller(),
                                   PermissionType=types.SimpleNamespace(EXECUTION_VIEW="view"))
    return module, scheduled


def test_rerun_tasks_reach_mistral_v2_with_stackstorms_own_scheduling():
    module, scheduled = _rerun_module("mistral-v2")
    assert patches.allow_task_rerun(module) is True
    assert patches.allow_task_rerun(module) is False  # wrapped once
    controller = module.ActionExecutionReRunController()
    assert controller.post(_Spec(tasks=["t1", "t2"], reset=["t1"]), "ex1", None) == "scheduled"
    assert scheduled == [{"re-run": {"ref": "ex1", "tasks": ["t1", "t2"], "reset": ["t1"]}}]
    # The controller itself is unchanged (the per-request copy carried the task options).
    assert "_handle_schedule_execution" not in vars(controller)


@pytest.mark.parametrize("runner", ["action-chain", "local-shell-cmd", "python-script"])
def test_rerun_refusal_is_unchanged_for_other_runners(runner):
    module, scheduled = _rerun_module(runner)
    patches.allow_task_rerun(module)
    with pytest.raises(ValueError, match="only supported for Orquesta"):
        module.ActionExecutionReRunController().post(_Spec(tasks=["t1"]), "ex1", None)
    assert scheduled == []


def test_rerun_other_errors_and_plain_reruns_go_through_stackstorm_unchanged():
    module, scheduled = _rerun_module("mistral-v2")
    patches.allow_task_rerun(module)
    controller = module.ActionExecutionReRunController()
    with pytest.raises(ValueError, match="Parameters override"):
        controller.post(_Spec(tasks=["t1"], parameters={"a": 1}), "ex1", None)
    assert controller.post(_Spec(), "ex2", None) == "scheduled"
    assert scheduled == [{"re-run": {"ref": "ex2"}}]


def test_rerun_wrapper_is_a_no_op_where_stackstorm_accepts_tasks():
    module, scheduled = _rerun_module("mistral-v2", refuses=False)
    patches.allow_task_rerun(module)
    module.ActionExecutionReRunController().post(_Spec(tasks=["t1"], reset=["t1"]), "ex1", None)
    assert scheduled == [{"re-run": {"ref": "ex1", "tasks": ["t1"], "reset": ["t1"]}}]


@pytest.mark.parametrize("wrapped", [False, True])
def test_schedule_rerun_adds_options_to_stackstorms_own_rerun(wrapped):
    module, scheduled = _rerun_module("mistral-v2")
    if wrapped:
        patches.allow_task_rerun(module)
    options = {"tasks": ["t2"], "reset": [], "next": True, "published": {"t2": {"v": 1}}}
    assert patches.schedule_rerun(module, "ex1", None, options) == "scheduled"
    assert scheduled == [{"re-run": {"ref": "ex1", "tasks": ["t2"], "reset": [], "next": True,
                                     "published": {"t2": {"v": 1}}}}]
    options["published"]["t2"]["v"] = 2  # copied: the scheduled context is not shared
    assert scheduled[0]["re-run"]["published"] == {"t2": {"v": 1}}
    assert "_handle_schedule_execution" not in vars(module.action_execution_rerun_controller)


def _st2_spec():
    return {"paths": {"/api/v1/executions/{id}/re_run": {"post": {}}}, "security": [{"api-key-header": []}]}


def test_extension_routes_join_stackstorms_api_spec_only():
    loaded = []

    def load_spec(module_name, spec_file):
        loaded.append((module_name, spec_file))
        return _st2_spec() if spec_file == "openapi.yaml.j2" else {"paths": {"/other": {}}}
    module = types.SimpleNamespace(load_spec=load_spec)
    assert patches.add_extension_routes(module) is True
    assert patches.add_extension_routes(module) is False  # wrapped once
    api_spec = module.load_spec("st2common", "openapi.yaml.j2")
    assert loaded == [("st2common", "openapi.yaml.j2")]
    ours = sorted(p for p in api_spec["paths"] if p.startswith("/api/v1/mistral/"))
    assert ours == ["/api/v1/mistral/executions/{id}/rerun_check", "/api/v1/mistral/executions/{id}/resume_next",
                    "/api/v1/mistral/executions/{id}/tasks/{task}/context", "/api/v1/mistral/executions/{id}/tree",
                    "/api/v1/mistral/extensions"]
    ops = [m for methods in api_spec["paths"].values() for m in methods.values() if m]
    # No per-route "security": the spec's global one (token or API key) applies, as to every execution route.
    assert all(op["operationId"].startswith("st2mistral_compat.routes:controller.") and "security" not in op
               for op in ops)
    assert module.load_spec("x", "other.yaml") == {"paths": {"/other": {}}}
    assert spec.extend(api_spec) is False  # already there


def test_hook_patches_a_module_when_it_is_imported_and_one_already_imported(tmp_path, monkeypatch):
    (tmp_path / "fake_st2_consts.py").write_text("WORKFLOW_RUNNER_TYPES = ['action-chain', 'orquesta']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    already = types.ModuleType("fake_loaded_consts")
    already.WORKFLOW_RUNNER_TYPES = ["orquesta"]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_loaded_consts", already)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    hook.install({"fake_st2_consts": "st2mistral_compat.patches:add_workflow_runner",
                  "fake_loaded_consts": "st2mistral_compat.patches:add_workflow_runner"})
    hook.install()  # idempotent: one finder
    assert sum(isinstance(f, hook.CompatFinder) for f in sys.meta_path) == 1
    assert already.WORKFLOW_RUNNER_TYPES == ["orquesta", "mistral-v2"]
    monkeypatch.delitem(sys.modules, "fake_st2_consts", raising=False)
    import fake_st2_consts  # type: ignore[import-not-found]

    assert fake_st2_consts.WORKFLOW_RUNNER_TYPES == ["action-chain", "orquesta", "mistral-v2"]


def test_hook_module_imports_only_the_standard_library():
    allowed = {"__future__", "importlib", "sys", "typing"}
    source = open(hook.__file__).read()
    imported = {line.split()[1].split(".")[0] for line in source.splitlines()
                if line.startswith(("import ", "from "))}
    assert imported <= allowed, imported - allowed


def test_command_writes_and_removes_our_pth_file(tmp_path, monkeypatch, capsys):
    pth = tmp_path / cli.PTH_NAME
    monkeypatch.setattr(cli, "pth_path", lambda: pth)
    assert cli.main(["status"]) == 0 and "disabled" in capsys.readouterr().out
    assert cli.main(["enable"]) == 0 and pth.read_text() == cli.PTH_LINE
    assert cli.main(["status"]) == 0 and capsys.readouterr().out.startswith("enabled")
    pth.write_text("import something_else\n")
    cli.main(["status"])
    assert "outdated" in capsys.readouterr().out
    assert cli.main(["disable"]) == 0 and not pth.exists()
    assert cli.main(["disable"]) == 0 and "was not there" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["sideways"])
