"""Maps a re-run request (POST /executions/<id>/re_run, or st2.action's child re-run hint) to context["re-run"]."""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Iterable, List, Optional

from mistral_v2 import callback
from mistral_v2.exceptions import InvalidParametersError

LOG = logging.getLogger(__name__)

# Optional fields of our re_run body beyond StackStorm's {parameters, tasks, reset, user, delay}.
EXTRA_FIELDS = ("no_reset", "context", "next", "published")


def _names(body: Dict[str, Any], key: str) -> Optional[List[str]]:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidParametersError('"%s" must be a list of task names.' % key)
    return [v.strip() for v in value]


def rerun_options(execution_id: str, body: Dict[str, Any], workflow: bool) -> Dict[str, Any]:
    """context["re-run"] for a re_run request body on execution `execution_id`.

    Without tasks: {"ref"} (the runner starts afresh). With tasks: {"ref", "tasks", "reset"} as
    StackStorm sends them (st2client's `--no-reset X` arrives as `reset` = tasks minus X; a body
    without "reset" resets every task) plus our optional "no_reset", "context", "next",
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
    if reset is not None:
        options["reset"] = list(dict.fromkeys(reset))
    elif no_reset is None:
        options["reset"] = list(options["tasks"])
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


def _action_execution_of(doc: Dict[str, Any]) -> Optional[str]:
    return callback.child_action_execution_id(doc.get("context"), doc.get("callback"))


def child_rerun_options(hint: Dict[str, Any], action_ref: str, parent_id: Optional[str],
                        get_execution: Callable[[str], Optional[Dict[str, Any]]],
                        list_children: Callable[[str], Iterable[Dict[str, Any]]]) -> Dict[str, Any]:
    """context["re-run"] for a child POSTed by st2.action with a re-run hint (no "ref").

    The hint ({"tasks", "reset", "context"?, "mistral": {"action_execution_id", "execution_id"}})
    names the old st2.action call; the old child is the child of the new parent's original
    execution (its context["re-run"]["ref"]) that this call started. InvalidParametersError
    when it cannot be found, so st2.action fails the task with that message.
    """
    if not isinstance(hint, dict):
        raise InvalidParametersError('context["re-run"] must be an object.')
    tasks = _names(hint, "tasks")
    if not tasks:
        raise InvalidParametersError('context["re-run"] of a child re-run needs "tasks".')
    reset = _names(hint, "reset")
    old = hint.get("mistral") or {}
    old_call = old.get("action_execution_id") if isinstance(old, dict) else None
    if not old_call:
        raise InvalidParametersError('context["re-run"] needs "ref" (the execution to re-run) or '
                                     '"mistral.action_execution_id" (the st2.action call that started it).')
    parent = get_execution(parent_id) if parent_id else None
    original_parent = (((parent or {}).get("context") or {}).get("re-run") or {}).get("ref")
    if not original_parent:
        raise InvalidParametersError("Cannot re-run tasks %s of a child workflow: the parent execution %s is "
                                     "not a re-run." % (", ".join(tasks), parent_id))
    old_child = next((c for c in list_children(original_parent) if _action_execution_of(c) == old_call), None)
    if old_child is None:
        raise InvalidParametersError("Cannot re-run tasks %s of a child workflow: execution %s has no child "
                                     "started by Mistral action execution %s." % (", ".join(tasks),
                                                                                  original_parent, old_call))
    if old_child["action"]["ref"] != action_ref:
        raise InvalidParametersError("Cannot re-run the child workflow %s: it ran %s, not %s." % (
            old_child["id"], old_child["action"]["ref"], action_ref))
    options: Dict[str, Any] = {"ref": old_child["id"], "tasks": tasks,
                               "reset": reset if reset is not None else list(tasks)}
    if isinstance(hint.get("context"), dict) and hint["context"]:
        options["context"] = hint["context"]
    LOG.info("child of %s re-runs %s of its earlier child %s", parent_id, ", ".join(tasks), old_child["id"])
    return options
