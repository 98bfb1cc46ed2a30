"""Maps a re-run request (POST /executions/<id>/re_run) to context["re-run"]."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from mistral_v2.exceptions import InvalidParametersError
from mistral_v2.task_paths import task_name_list

LOG = logging.getLogger(__name__)

# Optional fields of our re_run body beyond StackStorm's {parameters, tasks, reset, user, delay}.
EXTRA_FIELDS = ("no_reset", "context", "next", "published")


def _names(body: Dict[str, Any], key: str) -> Optional[List[str]]:
    return task_name_list(body.get(key), '"%s"' % key, InvalidParametersError)


def rerun_options(execution_id: str, body: Dict[str, Any], workflow: bool) -> Dict[str, Any]:
    """context["re-run"] for a re_run request body on execution `execution_id`.

    Without tasks: {"ref"} (the runner starts afresh). With tasks: {"ref", "tasks", "reset"} as
    StackStorm sends them (st2client's `--no-reset X` arrives as `reset` = tasks minus X; a body
    without "reset", or with an empty one, carries no "reset", as StackStorm's API stores it, and
    the runner then re-runs only the failed items of with-items tasks) plus our optional "no_reset", "context", "next",
    "published". Refuses (InvalidParametersError, HTTP 400) what StackStorm's controller refuses:
    parameters together with tasks, reset names outside tasks, tasks of a non-workflow execution.
    """
    if not isinstance(body, dict):
        raise InvalidParametersError("The request body must be a JSON object.")
    tasks = _names(body, "tasks") or []
    reset = _names(body, "reset")
    no_reset = _names(body, "no_reset")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidParametersError('"parameters" must be an object.')
    options: Dict[str, Any] = {"ref": execution_id}
    if not tasks:
        if reset or no_reset:
            raise InvalidParametersError("List of tasks to reset does not match the tasks to rerun: "
                                         "no tasks to re-run were given (use --tasks).")
        for key in EXTRA_FIELDS:
            if body.get(key):
                raise InvalidParametersError('"%s" applies only when re-running tasks (use --tasks).' % key)
        return options
    if parameters:
        raise InvalidParametersError("Parameters override is not supported when re-running task(s) for a "
                                     "workflow (the workflow execution keeps its input).")
    if not workflow:
        raise InvalidParametersError("Execution %s is not a workflow execution; --tasks applies only to "
                                     "workflow executions." % execution_id)
    stray = sorted(set(reset or []).union(no_reset or []) - set(tasks))
    if stray:
        raise InvalidParametersError("List of tasks to reset does not match the tasks to rerun: %s not in %s."
                                     % (", ".join(stray), ", ".join(tasks)))
    options.update(tasks=list(dict.fromkeys(tasks)))
    if reset:  # StackStorm's re_run controller stores only a non-empty reset list
        options["reset"] = list(dict.fromkeys(reset))
    if no_reset is not None:
        options["no_reset"] = list(dict.fromkeys(no_reset))
    overrides = body.get("context")
    if overrides is not None:
        if not isinstance(overrides, dict):
            raise InvalidParametersError('"context" must be an object of env variable -> value.')
        if overrides:
            options["context"] = overrides
    if body.get("next"):
        published = body.get("published") or {}
        if not isinstance(published, dict) or not all(isinstance(v, dict) for v in published.values()):
            raise InvalidParametersError('"published" must map task name -> {variable: value}.')
        options.update(next=True, published=published)
    return options
