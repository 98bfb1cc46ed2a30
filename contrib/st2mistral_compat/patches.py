"""The changes the compat layer makes to StackStorm 3.9, each a no-op where StackStorm has it.

1. `mistral-v2` joins `st2common.constants.action.WORKFLOW_RUNNER_TYPES`, the list StackStorm
   checks before it pauses/resumes an execution (and before an action-chain or orquesta parent
   cascades a pause to a child).
2. st2api's re-run (`ActionExecutionReRunController.post`) refuses `--tasks` for every runner but
   orquesta; the wrapper lets `--tasks`/`--no-reset` through for `mistral-v2` executions only, by
   scheduling the re-run StackStorm's own code builds and putting the task options back into its
   `re-run` context. Every other request goes to StackStorm's code unchanged.
3. st2api's API spec (`st2common.util.spec_loader.load_spec`) gains the st2-mistral extension
   routes (`/api/v1/mistral/...`, spec.py; controller routes.py), served by st2api's own router
   with its authentication, like every execution route.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List

from st2mistral_compat import spec

RUNNER = "mistral-v2"
_MARK = "_st2mistral_compat"
# StackStorm's refusal of --tasks for a runner other than orquesta (st2api 3.x).
_TASKS_REFUSAL = "Task option is only supported"


def add_workflow_runner(module: Any) -> bool:
    """Add mistral-v2 to WORKFLOW_RUNNER_TYPES in place (others import the same list object)."""
    types: List[str] = module.WORKFLOW_RUNNER_TYPES
    if RUNNER in types:
        return False
    types.append(RUNNER)
    return True


def _scheduling_with(controller: Any, options: Dict[str, Any]) -> Any:
    """A per-request copy of StackStorm's re-run controller (no shared state) whose
    `_handle_schedule_execution` adds `options` to the new execution's context["re-run"]."""
    handle = controller._handle_schedule_execution

    def schedule(liveaction_api: Any, *args: Any, **kwargs: Any) -> Any:
        liveaction_api.context.setdefault("re-run", {}).update(copy.deepcopy(options))
        return handle(liveaction_api, *args, **kwargs)

    request = copy.copy(controller)
    request._handle_schedule_execution = schedule
    return request


def _task_options(tasks: List[str], reset: List[str]) -> Dict[str, Any]:
    return dict({"tasks": list(tasks)}, **({"reset": list(reset)} if reset else {}))


def schedule_rerun(module: Any, execution_id: str, requester_user: Any, options: Dict[str, Any]) -> Any:
    """A re-run of `execution_id` made by StackStorm's own re-run controller (its checks, trace
    link, scheduling; `module` is st2api.controllers.v1.actionexecutions) with `options` in its
    context["re-run"]; returns st2api's 201 Response with the new execution."""
    controller = module.action_execution_rerun_controller
    cls = type(controller)
    post = getattr(cls.post, "__wrapped__", cls.post)
    return post(_scheduling_with(controller, options), cls.ExecutionSpecificationAPI(), execution_id,
                requester_user)


def allow_task_rerun(module: Any) -> bool:
    """Wrap ActionExecutionReRunController.post so --tasks reaches mistral-v2 executions."""
    controller_cls = module.ActionExecutionReRunController
    original = controller_cls.post
    if getattr(original, _MARK, False):
        return False

    def post(self: Any, spec_api: Any, id: str, requester_user: Any, no_merge: bool = False,
             show_secrets: bool = False) -> Any:
        try:
            return original(self, spec_api, id, requester_user, no_merge=no_merge, show_secrets=show_secrets)
        except ValueError as exc:
            tasks, reset = list(spec_api.tasks or []), list(spec_api.reset or [])
            if not tasks or _TASKS_REFUSAL not in str(exc):
                raise
            existing = self._get_one_by_id(id=id, exclude_fields=self.exclude_fields, requester_user=requester_user,
                                           permission_type=module.PermissionType.EXECUTION_VIEW)
            if (existing.runner or {}).get("name") != RUNNER:
                raise
        # StackStorm refused only because of the runner: same request without the task options,
        # scheduled with them put back.
        request = _scheduling_with(self, _task_options(tasks, reset))
        stripped = copy.copy(spec_api)
        stripped.tasks, stripped.reset = [], []
        return original(request, stripped, id, requester_user, no_merge=no_merge, show_secrets=show_secrets)

    setattr(post, _MARK, True)
    post.__doc__ = original.__doc__
    post.__wrapped__ = original  # type: ignore[attr-defined]
    controller_cls.post = post
    return True


def add_extension_routes(module: Any) -> bool:
    """Wrap spec_loader.load_spec so StackStorm's API spec carries the st2-mistral routes."""
    original = module.load_spec
    if getattr(original, _MARK, False):
        return False

    def load_spec(*args: Any, **kwargs: Any) -> Any:
        loaded = original(*args, **kwargs)
        spec.extend(loaded)
        return loaded

    setattr(load_spec, _MARK, True)
    load_spec.__doc__ = original.__doc__
    load_spec.__wrapped__ = original  # type: ignore[attr-defined]
    module.load_spec = load_spec
    return True
