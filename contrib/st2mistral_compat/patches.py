"""The two changes the compat layer makes to StackStorm 3.9, each a no-op where StackStorm has it.

1. `mistral-v2` joins `st2common.constants.action.WORKFLOW_RUNNER_TYPES`, the list StackStorm
   checks before it pauses/resumes an execution (and before an action-chain or orquesta parent
   cascades a pause to a child).
2. st2api's re-run (`ActionExecutionReRunController.post`) refuses `--tasks` for every runner but
   orquesta; the wrapper lets `--tasks`/`--no-reset` through for `mistral-v2` executions only, by
   scheduling the re-run StackStorm's own code builds and putting the task options back into its
   `re-run` context. Every other request goes to StackStorm's code unchanged.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, List

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


def _schedule_with_tasks(handle: Callable[..., Any], tasks: List[str], reset: List[str]) -> Callable[..., Any]:
    def schedule(liveaction_api: Any, *args: Any, **kwargs: Any) -> Any:
        rerun = liveaction_api.context.setdefault("re-run", {})
        rerun["tasks"] = list(tasks)
        if reset:
            rerun["reset"] = list(reset)
        return handle(liveaction_api, *args, **kwargs)

    return schedule


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
        # scheduled with them put back (a per-request copy of the controller: no shared state).
        request = copy.copy(self)
        request._handle_schedule_execution = _schedule_with_tasks(self._handle_schedule_execution, tasks, reset)
        stripped = copy.copy(spec_api)
        stripped.tasks, stripped.reset = [], []
        return original(request, stripped, id, requester_user, no_merge=no_merge, show_secrets=show_secrets)

    setattr(post, _MARK, True)
    post.__doc__ = original.__doc__
    post.__wrapped__ = original  # type: ignore[attr-defined]
    controller_cls.post = post
    return True
