"""st2mistral_compat with stand-in StackStorm modules: the two patches, the import hook, the command."""
from __future__ import annotations

import sys
import types

import pytest

from st2mistral_compat import cli, hook, patches


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
