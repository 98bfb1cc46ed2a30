"""Pause, resume and cancel of a whole workflow tree: Mistral subworkflows and child StackStorm workflows.

Facts about Mistral 23 this module relies on are in docs/operations.md.  In short: Mistral
itself cascades PAUSED / RUNNING / CANCELLED from an execution down to its workbook
subworkflows, pauses the parents of a paused subworkflow, lets running actions finish and
schedules nothing new while an execution is PAUSED or CANCELLED.  A child StackStorm workflow
(started by `st2.action`) is a separate Mistral root execution: this module cascades to it
through the StackStorm API (`St2Executions`) and links it to its parent's Mistral task by
updating the parent's action execution (PAUSED on pause, RUNNING on a resume coming from the
parent).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import requests

try:
    from typing import Protocol
except ImportError:  # pragma: no cover - Python < 3.8
    from typing_extensions import Protocol  # type: ignore

from mistral_v2 import callback as callback_url
from mistral_v2 import config, retries, st2_rest, statuses
from mistral_v2.exceptions import (
    InvalidOperationError,
    MistralAPIError,
    MistralError,
    St2MistralError,
    WorkflowNotFoundError,
)
from mistral_v2.statuses import St2

LOG = logging.getLogger(__name__)

PAUSE = "pause"
RESUME = "resume"
CANCEL = "cancel"
OPERATIONS = (PAUSE, RESUME, CANCEL)

# StackStorm runners whose executions are workflows (st2common.constants.action).
WORKFLOW_RUNNER_TYPES = frozenset({"mistral-v2", "action-chain", "orquesta"})

# Operation -> (statuses it acts on, statuses where it is a no-op, explanation when refused).
_RULES: Dict[str, Tuple[frozenset, frozenset, str]] = {
    PAUSE: (frozenset({St2.RUNNING}), frozenset({St2.PAUSING, St2.PAUSED}),
            "only a running execution can be paused"),
    RESUME: (frozenset({St2.PAUSED, St2.PAUSING}), frozenset({St2.RUNNING, St2.RESUMING}),
             "only a paused or pausing execution can be resumed"),
    CANCEL: (frozenset({St2.REQUESTED, St2.SCHEDULED, St2.RUNNING,
                        St2.PAUSING, St2.PAUSED, St2.RESUMING}),
             frozenset({St2.CANCELING}),
             "a completed execution cannot be canceled"),
}

# Mistral state requested by each operation.
MISTRAL_TARGET_STATE = {PAUSE: statuses.PAUSED, RESUME: statuses.RUNNING, CANCEL: statuses.CANCELLED}

# Child statuses for which each cascade sends a request to the child.
_CHILD_STATUSES_TO_REQUEST = {
    PAUSE: frozenset({St2.RUNNING, St2.RESUMING}),
    RESUME: frozenset({St2.PAUSED, St2.PAUSING}),
    CANCEL: frozenset({St2.REQUESTED, St2.SCHEDULED, St2.RUNNING,
                       St2.PAUSING, St2.PAUSED, St2.RESUMING}),
}


class St2Executions(Protocol):
    """The StackStorm API calls the cascade needs (the host and real st2 both provide them).

    Executions are dicts in the shape of GET /api/v1/executions/<id>: at least "id", "status",
    "runner": {"name"}, "parent" (id or None) and "context".
    """

    def get_execution(self, execution_id: str) -> Dict[str, Any]:
        """GET /api/v1/executions/<id>."""

    def list_children(self, execution_id: str) -> List[Dict[str, Any]]:
        """GET /api/v1/executions?parent=<id> (direct children only)."""

    def request_pause(self, execution_id: str) -> None:
        """PUT /api/v1/executions/<id> {"status": "pausing"}."""

    def request_resume(self, execution_id: str) -> None:
        """PUT /api/v1/executions/<id> {"status": "resuming"}."""

    def request_cancel(self, execution_id: str) -> None:
        """DELETE /api/v1/executions/<id>."""


class RestSt2Executions:
    """St2Executions over StackStorm's REST API (the local host and a real st2 both serve it),
    through the one StackStorm REST client (st2_rest.St2Rest) with the `[mistral]` back-off.

    A 4xx raises StackStormAPIError with StackStorm's message.  The token/API key is sent as a
    header and never logged.
    """

    def __init__(self, api_url: str, auth_token: Optional[str] = None, api_key: Optional[str] = None,
                 conf: Any = None, session: Optional[requests.Session] = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.api_url = api_url.rstrip("/")
        self.opts = conf if conf is not None else config.get()
        self._rest = st2_rest.St2Rest(
            self.api_url, lambda retry_if: retries.from_options(self.opts, retry_if, sleep=sleep),
            headers=st2_rest.auth_header(auth_token, api_key), timeout=self.opts.request_timeout,
            session=session)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._rest.call(method, path, **kwargs)

    def get_execution(self, execution_id: str) -> Dict[str, Any]:
        return self._call("GET", "/executions/%s" % execution_id)

    def list_children(self, execution_id: str) -> List[Dict[str, Any]]:
        return list(self._call("GET", "/executions", params={"parent": execution_id}) or [])

    def request_pause(self, execution_id: str) -> None:
        self._call("PUT", "/executions/%s" % execution_id, json={"status": St2.PAUSING})

    def request_resume(self, execution_id: str) -> None:
        self._call("PUT", "/executions/%s" % execution_id, json={"status": St2.RESUMING})

    def request_cancel(self, execution_id: str) -> None:
        self._call("DELETE", "/executions/%s" % execution_id)


# -- pure rules ------------------------------------------------------------------------------------


def check_request(operation: str, status: str, execution_id: str = "") -> bool:
    """Whether `operation` on an execution in `status` must be carried out.

    True: do it.  False: nothing to do, answer with the current status (StackStorm's
    behaviour for pausing a pausing/paused, resuming a running/resuming and canceling a
    canceling execution).  Anything else raises InvalidOperationError naming the status.
    """
    try:
        acts_on, no_op, explain = _RULES[operation]
    except KeyError:
        raise InvalidOperationError(
            'Unknown operation "%s"; expected one of: %s' % (operation, ", ".join(OPERATIONS))) from None
    if status in no_op:
        return False
    if status in acts_on:
        return True
    what = ("Execution %s" % execution_id) if execution_id else "The execution"
    raise InvalidOperationError('Cannot %s: %s is "%s"; %s.' % (operation, what, status, explain))


def is_workflow(execution: Mapping[str, Any]) -> bool:
    """True when a StackStorm execution dict was run by a workflow runner."""
    runner = execution.get("runner") or {}
    name = runner.get("name") if isinstance(runner, Mapping) else runner
    if not name:
        action = execution.get("action") or {}
        name = action.get("runner_type") if isinstance(action, Mapping) else None
    return name in WORKFLOW_RUNNER_TYPES


def is_child_active(status: str) -> bool:
    """True when a child execution in `status` may still do work: not completed, not paused and
    not `pending` (an Inquiry waits for a response; StackStorm 3.2's `is_children_active` counted
    paused and pending children as inactive too)."""
    return status not in (St2.PAUSED, St2.PENDING) and not statuses.is_completed(status)


def combine_status(own_status: str, child_statuses: Iterable[str]) -> str:
    """The workflow's StackStorm status once its StackStorm children are taken into account.

    A workflow stays `pausing` / `canceling` while any child execution is still active, as
    StackStorm's documentation requires ("paused when no more tasks are in an active state").
    """
    active = any(is_child_active(s) for s in child_statuses)
    if own_status == St2.PAUSED and active:
        return St2.PAUSING
    if own_status == St2.CANCELED and active:
        return St2.CANCELING
    return own_status


def should_pause_parent(child_status: str, parent_status: str) -> bool:
    """Cascade UP rule: a child going pausing/paused pauses a running (or resuming) parent."""
    return child_status in (St2.PAUSING, St2.PAUSED) and parent_status in (St2.RUNNING, St2.RESUMING)


def parent_execution_id(context: Optional[Mapping[str, Any]]) -> Optional[str]:
    """Id of the parent StackStorm execution named in an execution's context, if any."""
    parent = (context or {}).get("parent") or {}
    return parent.get("execution_id") if isinstance(parent, Mapping) else None


def parent_action_execution_id(context: Optional[Mapping[str, Any]],
                               callback: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """Mistral action execution (in the parent workflow) that runs this child, if any.

    Read from context["mistral"]["action_execution_id"] (as `st2.action` posts it) or else
    from the callback URL ".../action_executions/<id>" the child carries.
    """
    if not parent_execution_id(context):
        return None
    return callback_url.child_action_execution_id(context, callback)


# -- Mistral side ------------------------------------------------------------------------------------


def subworkflow_executions(api: Any, root_id: str) -> List[Dict[str, Any]]:
    """Every workbook subworkflow execution below the Mistral root `root_id` (any depth)."""
    return [ex for ex in api.list_executions(root_execution_id=root_id) if ex.get("id") != root_id]


def tree_states(api: Any, root_id: str,
                subworkflows: Optional[List[Dict[str, Any]]] = None) -> Tuple[str, List[str]]:
    """The root's Mistral state and the states of every task in the tree (root + subworkflows)."""
    root = api.get_execution(root_id)
    if subworkflows is None:
        subworkflows = subworkflow_executions(api, root_id)
    ids = [root_id] + [ex["id"] for ex in subworkflows]
    task_states: List[str] = []
    for ex_id in ids:
        task_states.extend(t.get("state") for t in api.list_tasks(ex_id))
    return root.get("state"), task_states


def tree_status(api: Any, root_id: str, subworkflows: Optional[List[Dict[str, Any]]] = None) -> str:
    """StackStorm status of the Mistral root, counting active tasks in every subworkflow.

    Mistral marks a task whose subworkflow is paused/cancelled as PAUSED/CANCELLED while an
    action deeper down may still be running; only the whole tree says pausing vs paused.
    """
    state, task_states = tree_states(api, root_id, subworkflows)
    return statuses.to_st2_status(state, task_states)


def _set_state(api: Any, execution_id: str, state: str) -> Optional[Dict[str, Any]]:
    """Set a Mistral execution's state; None when Mistral refuses because it already ended."""
    try:
        return api.update_execution(execution_id, state)
    except WorkflowNotFoundError:
        raise InvalidOperationError("Mistral execution %s no longer exists." % execution_id) from None
    except MistralAPIError as exc:
        current = api.get_execution(execution_id).get("state")
        if current in statuses.MISTRAL_TERMINAL_STATES:
            LOG.info("Mistral execution %s already %s; %s not applied.", execution_id, current, state)
            return None
        raise InvalidOperationError(
            "Mistral refused to set execution %s to %s: %s" % (execution_id, state, exc)) from None


def apply_to_tree(api: Any, root_id: str, operation: str) -> str:
    """Apply `operation` to a Mistral root and make sure every subworkflow follows.

    Mistral 23 cascades down by itself; subworkflows it did not reach (none expected) are set
    explicitly.  Returns the tree's StackStorm status afterwards (e.g. "succeeded" when the
    workflow ended before a pause reached it: never left "pausing"); a resume Mistral accepted
    answers "running" (what happens next is the reconciler's news).
    """
    target = MISTRAL_TARGET_STATE[operation]
    updated = _set_state(api, root_id, target)
    subs: Optional[List[Dict[str, Any]]] = None
    if updated is not None:
        subs = subworkflow_executions(api, root_id)
        lagging = False
        for sub in subs:
            state = sub.get("state")
            if state in statuses.MISTRAL_TERMINAL_STATES or state == target:
                continue
            if operation == RESUME and state != statuses.PAUSED:
                continue
            LOG.info("Subworkflow execution %s still %s; setting %s.", sub["id"], state, target)
            lagging = True
            try:
                _set_state(api, sub["id"], target)
            except InvalidOperationError as exc:
                LOG.warning("Could not set subworkflow %s to %s: %s", sub["id"], target, exc)
        if operation == RESUME and updated.get("state") not in statuses.MISTRAL_TERMINAL_STATES:
            return St2.RUNNING
        if lagging:
            subs = None  # states changed: list again
    return tree_status(api, root_id, subs)


def set_parent_task_state(api: Any, action_execution_id: Optional[str], state: str) -> bool:
    """Set the parent workflow's action execution that runs a child workflow (PAUSED/RUNNING/
    CANCELLED).

    Mistral then pauses (resumes, cancels) the parent workflow itself.  An action execution that
    has already ended is left alone.  Returns True when the state was set.
    """
    if not action_execution_id:
        return False
    try:
        current = api.get_action_execution(action_execution_id).get("state")
        if current in statuses.MISTRAL_TERMINAL_STATES or current == state:
            return False
        api.update_action_execution(action_execution_id, state)
        return True
    except MistralError as exc:
        LOG.warning("Could not set parent action execution %s to %s: %s", action_execution_id, state, exc)
        return False


# -- StackStorm side -----------------------------------------------------------------------------------


def direct_children(st2: Optional[St2Executions], execution_id: str) -> List[Dict[str, Any]]:
    """Direct StackStorm children of `execution_id` ([] when unknown)."""
    if st2 is None:
        return []
    try:
        return list(st2.list_children(execution_id))
    except St2MistralError as exc:
        LOG.warning("Cannot list the children of execution %s: %s", execution_id, exc)
        return []


def workflow_children(st2: Optional[St2Executions], execution_id: str) -> List[Dict[str, Any]]:
    """Direct StackStorm children of `execution_id` that are workflows ([] when unknown)."""
    return [c for c in direct_children(st2, execution_id) if is_workflow(c)]


def mark_pending_child_tasks(api: Any, children: Iterable[Mapping[str, Any]], state: str) -> bool:
    """Set the Mistral task of each `pending` child (an Inquiry: core.ask) to `state`: PAUSED when
    the workflow pauses, so Mistral counts no running task and the workflow is `paused` while the
    inquiry waits (as with StackStorm 3.2's runner, which did not count a pending child as
    active); RUNNING when it resumes, so the response (st2mistral-sync's callback) completes the
    task. True when a task state was changed."""
    changed = False
    for child in children:
        if child.get("status") == St2.PENDING:
            changed |= set_parent_task_state(
                api, callback_url.child_action_execution_id(child.get("context"), child.get("callback")), state)
    return changed


def cascade_down(st2: Optional[St2Executions], execution_id: str, operation: str,
                 children: Optional[List[Dict[str, Any]]] = None) -> List[str]:
    """Request `operation` on every child StackStorm workflow that needs it; returns their ids.

    Each child's own runner cascades further, so this reaches any depth.  A child that fails
    to take the request is logged and skipped so the others still get it.
    """
    if st2 is None:
        return []
    request = {PAUSE: st2.request_pause, RESUME: st2.request_resume, CANCEL: st2.request_cancel}[operation]
    wanted = _CHILD_STATUSES_TO_REQUEST[operation]
    done: List[str] = []
    for child in (workflow_children(st2, execution_id) if children is None else children):
        if child.get("status") not in wanted:
            continue
        try:
            request(child["id"])
            done.append(child["id"])
            child["status"] = {PAUSE: St2.PAUSING, RESUME: St2.RESUMING, CANCEL: St2.CANCELING}[operation]
        except St2MistralError as exc:
            LOG.warning("Could not %s child execution %s of %s: %s", operation, child["id"], execution_id, exc)
    return done


def mark_foreign_child_tasks(api: Any, children: Iterable[Mapping[str, Any]], asked: Iterable[str],
                             state: str) -> None:
    """Set the Mistral `st2.action` task of each asked child that is NOT a mistral-v2 workflow
    (action-chain, orquesta) to `state`: their runners do not tell Mistral they pause or resume,
    while a mistral-v2 child's own runner does (set_parent_task_state)."""
    wanted = set(asked)
    for child in children:
        runner = child.get("runner") or {}
        name = runner.get("name") if isinstance(runner, Mapping) else runner
        if child.get("id") in wanted and name != "mistral-v2":
            set_parent_task_state(api, callback_url.child_action_execution_id(child.get("context"),
                                                                              child.get("callback")), state)


def pause_up(st2: St2Executions, execution_id: str) -> List[str]:
    """Cascade UP after `execution_id` went pausing/paused: pause its ancestors up to the root.

    A running ancestor gets a pause request (its runner then pauses its Mistral execution and
    its other children).  An ancestor that is already pausing/paused only gets its running
    workflow children paused (it may have been paused by Mistral alone).  Returns the ids that
    were asked to pause.
    """
    asked: List[str] = []
    seen = {execution_id}
    current = st2.get_execution(execution_id)
    while True:
        parent_id = current.get("parent") or parent_execution_id(current.get("context"))
        if not parent_id or parent_id in seen:
            return asked
        seen.add(parent_id)
        parent = st2.get_execution(parent_id)
        if should_pause_parent(current.get("status") or St2.PAUSING, parent.get("status") or ""):
            st2.request_pause(parent_id)
            asked.append(parent_id)
            return asked  # the parent's own pause continues the cascade up
        if parent.get("status") in (St2.PAUSING, St2.PAUSED):
            asked.extend(cascade_down(st2, parent_id, PAUSE))
            current = parent
            continue
        return asked


def settled_status(api: Any, st2: Optional[St2Executions], child: Mapping[str, Any]) -> str:
    """A child workflow's status as its parent's pause answer must count it.

    A `mistral-v2` child that StackStorm still shows `pausing` while its own Mistral tree has no
    active task and none of its own workflow children is active counts as `paused`: its runner's
    `paused` answer is only not stored yet (StackStorm's status lags Mistral's). Any other child
    counts with its StackStorm status.
    """
    status = child.get("status") or ""
    mistral_id = ((child.get("context") or {}).get("mistral") or {}).get("execution_id")
    runner = child.get("runner") or {}
    name = runner.get("name") if isinstance(runner, Mapping) else runner
    if status != St2.PAUSING or name != "mistral-v2" or not mistral_id:
        return status
    try:
        own = tree_status(api, str(mistral_id))
    except MistralError as exc:
        LOG.warning("Cannot read Mistral execution %s of child %s: %s", mistral_id, child.get("id"), exc)
        return status
    grandchildren = workflow_children(st2, str(child.get("id")))
    return St2.PAUSED if combine_status(own, [settled_status(api, st2, g) for g in grandchildren]) == St2.PAUSED \
        else status


def stored_status(st2: Optional[St2Executions], execution_id: str) -> Optional[str]:
    """The execution's status as StackStorm stores it now (None when unknown)."""
    if st2 is None:
        return None
    try:
        return st2.get_execution(execution_id).get("status")
    except St2MistralError as exc:
        LOG.warning("Cannot read execution %s: %s", execution_id, exc)
        return None


# -- what the runner calls ----------------------------------------------------------------------------


def pause(api: Any, st2: Optional[St2Executions], execution_id: str, mistral_execution_id: str,
          context: Optional[Mapping[str, Any]] = None,
          callback: Optional[Mapping[str, Any]] = None) -> str:
    """Pause a StackStorm workflow execution and everything below it; its new status.

    Pauses the Mistral root (Mistral pauses the workbook subworkflows), asks every running
    child StackStorm workflow to pause, and marks this workflow's task in its parent workflow
    PAUSED so Mistral pauses the parent too (cascade up).
    """
    status = apply_to_tree(api, mistral_execution_id, PAUSE)
    if statuses.is_completed(status):
        return status
    everyone = direct_children(st2, execution_id)
    if mark_pending_child_tasks(api, everyone, statuses.PAUSED):
        status = tree_status(api, mistral_execution_id)
    children = [c for c in everyone if is_workflow(c)]
    already = [c for c in children if c.get("status") in (St2.PAUSING, St2.PAUSED)]
    mark_foreign_child_tasks(api, children, cascade_down(st2, execution_id, PAUSE, children), statuses.PAUSED)
    for child in already:  # paused on its own (e.g. a pause-before task): its task here pauses too
        set_parent_task_state(api, parent_action_execution_id(child.get("context"), child.get("callback")),
                              statuses.PAUSED)
    set_parent_task_state(api, parent_action_execution_id(context, callback), statuses.PAUSED)
    combined = combine_status(status, [c.get("status") or "" for c in children])
    if combined == St2.PAUSING:
        # StackStorm stores the status the runner returns OVER whatever was written meanwhile (a
        # `paused` pushed by the plugin or the reconciler): never answer a stale `pausing`.
        children = workflow_children(st2, execution_id)
        combined = combine_status(tree_status(api, mistral_execution_id),
                                  [settled_status(api, st2, c) for c in children])
        if combined == St2.PAUSING and stored_status(st2, execution_id) == St2.PAUSED:
            combined = St2.PAUSED  # StackStorm accepted `paused` meanwhile: no child was active
    return combined


def resume(api: Any, st2: Optional[St2Executions], execution_id: str, mistral_execution_id: str,
           context: Optional[Mapping[str, Any]] = None,
           callback: Optional[Mapping[str, Any]] = None) -> str:
    """Resume a paused StackStorm workflow execution and everything paused below it.

    Never resumes the parents: the task in the parent workflow is set back to RUNNING only
    when the parent itself is running or resuming (the resume came from the parent).
    """
    status = apply_to_tree(api, mistral_execution_id, RESUME)
    if statuses.is_completed(status):
        return status
    everyone = direct_children(st2, execution_id)
    mark_pending_child_tasks(api, everyone, statuses.RUNNING)
    children = [c for c in everyone if is_workflow(c)]
    mark_foreign_child_tasks(api, children, cascade_down(st2, execution_id, RESUME, children), statuses.RUNNING)
    parent_id = parent_execution_id(context)
    if parent_id and st2 is not None:
        try:
            parent_status = st2.get_execution(parent_id).get("status")
        except St2MistralError as exc:
            LOG.warning("Cannot read parent execution %s: %s", parent_id, exc)
            parent_status = None
        if parent_status in (St2.RUNNING, St2.RESUMING):
            set_parent_task_state(api, parent_action_execution_id(context, callback), statuses.RUNNING)
    return St2.RUNNING if status in (St2.PAUSING, St2.PAUSED) else status


def cancel(api: Any, st2: Optional[St2Executions], execution_id: str, mistral_execution_id: str,
           context: Optional[Mapping[str, Any]] = None,
           callback: Optional[Mapping[str, Any]] = None) -> str:
    """Cancel a StackStorm workflow execution and every child workflow; canceling or canceled.

    Running actions finish; Mistral schedules no new task. As StackStorm's runner did, a child
    workflow also sets its task in the parent workflow CANCELLED (cascade up): Mistral cancels
    the parent once its other running tasks are done (at once when there are none), so the
    parent shows `canceling` while this child is still canceling.
    """
    status = apply_to_tree(api, mistral_execution_id, CANCEL)
    children = workflow_children(st2, execution_id)
    cascade_down(st2, execution_id, CANCEL, children)
    set_parent_task_state(api, parent_action_execution_id(context, callback), statuses.CANCELLED)
    if statuses.is_completed(status) and status != St2.CANCELED:
        return status
    return combine_status(status, [c.get("status") or "" for c in children])
