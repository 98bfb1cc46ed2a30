"""The Mistral extension routes' logic (tree, task context, re-run check, resume-next), web-framework free.

One implementation for both servers of `/api/v1/mistral/executions/<st2 id>/...`: the local host
(st2mistral_local.extensions, Flask) and st2api with the compat layer (st2mistral_compat.routes).
Each passes its own view of StackStorm executions (`Executions`: the host's store, or st2's
database behind mistral_v2.seam) and its Mistral client.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Protocol

from mistral_v2 import inbound_context, masking, rerun, resume_from_next, task_paths, workflow_spec
from mistral_v2.exceptions import (
    InvalidOperationError,
    InvalidParametersError,
    MissingRequirementsError,
    RerunError,
    St2MistralError,
)
from mistral_v2.statuses import St2

LOG = logging.getLogger(__name__)

MISTRAL_RUNNER = "mistral-v2"
# How long resume_next waits for the runner's start (run() returned) before answering.
START_WAIT_SECONDS = 30.0
# The routes, as GET /api/v1/mistral/extensions lists them (a client tells "route absent" from
# "execution not found" with it).
ROUTES = ["executions/{id}/tree", "executions/{id}/tasks/{task}/context", "executions/{id}/rerun_check",
          "executions/{id}/resume_next"]


class Executions(Protocol):
    """Read access to StackStorm executions (ActionExecutionAPI-shaped dicts)."""

    def get_execution(self, execution_id: str) -> Optional[Dict[str, Any]]: ...

    def child_ids(self, execution_id: str) -> List[str]: ...


def info(served_by: str) -> Dict[str, Any]:
    """The answer of GET /api/v1/mistral/extensions."""
    return {"served_by": served_by, "routes": list(ROUTES)}


def mistral_execution_id(doc: Dict[str, Any]) -> str:
    """The Mistral workflow execution of a StackStorm execution, or InvalidOperationError."""
    if (doc.get("runner") or {}).get("name") != MISTRAL_RUNNER:
        raise InvalidOperationError('Execution %s runs action %s (runner "%s"), not a Mistral workflow.' % (
            doc["id"], doc["action"]["ref"], (doc.get("runner") or {}).get("name")))
    ex_id = _mistral_id_of(doc)
    if not ex_id:
        raise InvalidOperationError("Execution %s has no Mistral workflow execution (status %s)." % (
            doc["id"], doc["status"]))
    return ex_id


def st2_child_resolver(execs: Executions, execution_id: str) -> task_paths.ResolveSt2Child:
    """task_paths.st2_child_resolver over `execs`: st2.action action execution id -> the Mistral
    execution id of the StackStorm workflow it started (any depth below `execution_id`)."""
    def list_children(parent_id: str) -> List[Dict[str, Any]]:
        return [c for c in (execs.get_execution(i) for i in execs.child_ids(parent_id)) if c is not None]

    return task_paths.st2_child_resolver(list_children, execution_id)


# ---- task tree ------------------------------------------------------------------------------

def _by_created(items: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return sorted(items, key=lambda t: (t.get("created_at") or "", t.get("name") or ""))


def workflow_node(api: Any, execution: Dict[str, Any], st2_children: Dict[str, List[Dict[str, Any]]],
                  st2_node: Callable[[Dict[str, Any]], Dict[str, Any]], depth: int = 0) -> Dict[str, Any]:
    """One Mistral workflow execution with its tasks, their subworkflows and StackStorm children."""
    if depth > 50:
        raise InvalidOperationError("The workflow tree is deeper than 50 levels.")
    tasks = []
    for task in _by_created(api.list_tasks(execution["id"])):
        node: Dict[str, Any] = {"name": task.get("name"), "id": task.get("id"), "state": task.get("state"),
                                "state_info": task.get("state_info"), "type": task.get("type"),
                                "workflows": [], "executions": []}
        if task.get("type") == "WORKFLOW":
            for sub in _by_created(api.list_executions(task=task["id"])):
                node["workflows"].append(workflow_node(api, sub, st2_children, st2_node, depth + 1))
        for child in st2_children.get(task.get("id") or "", []):
            node["executions"].append(st2_node(child))
        tasks.append(node)
    return {"id": execution["id"], "workflow_name": execution.get("workflow_name"), "state": execution.get("state"),
            "state_info": execution.get("state_info"), "tasks": tasks}


def _mistral_id_of(doc: Dict[str, Any]) -> Optional[str]:
    return ((doc.get("context") or {}).get("mistral") or {}).get("execution_id")


def _child_ids_of_tree(execs: Executions, ex: Dict[str, Any]) -> List[str]:
    """Children of `ex` plus those of the executions it re-runs on the same Mistral execution
    (a re-run continues the original Mistral workflow, whose earlier children belong to the original)."""
    out: List[str] = []
    seen = set()
    current: Optional[Dict[str, Any]] = ex
    mistral_id = _mistral_id_of(ex)
    while current is not None and current["id"] not in seen:
        seen.add(current["id"])
        out += [c for c in execs.child_ids(current["id"]) if c not in out]
        ref = ((current.get("context") or {}).get("re-run") or {}).get("ref")
        current = execs.get_execution(ref) if ref else None
        if current is not None and _mistral_id_of(current) != mistral_id:
            break
    return out


def execution_tree(api: Any, execs: Executions, doc: Dict[str, Any]) -> Dict[str, Any]:
    """The StackStorm execution `doc` with its Mistral workflow tree, nested StackStorm children included."""
    def st2_node(ex: Dict[str, Any]) -> Dict[str, Any]:
        node = {"id": ex["id"], "action": ex["action"]["ref"], "status": ex["status"],
                "runner": (ex.get("runner") or {}).get("name"), "workflow": None}
        children: Dict[str, List[Dict[str, Any]]] = {}
        for child_id in _child_ids_of_tree(execs, ex):
            child = execs.get_execution(child_id)
            task_id = (((child or {}).get("context") or {}).get("mistral") or {}).get("task_execution_id")
            if child is not None and task_id:
                children.setdefault(task_id, []).append(child)
        ex_id = _mistral_id_of(ex)
        if node["runner"] == MISTRAL_RUNNER and ex_id:
            node["workflow"] = workflow_node(api, api.get_execution(ex_id), children, st2_node)
        return node

    mistral_execution_id(doc)
    return st2_node(doc)


# ---- task context ---------------------------------------------------------------------------

def secret_names(doc: Dict[str, Any]) -> List[str]:
    """Parameters an execution declares secret (its runner's, then its action's, which win)."""
    meta: Dict[str, Any] = dict((doc.get("runner") or {}).get("runner_parameters") or {})
    for name, spec in ((doc.get("action") or {}).get("parameters") or {}).items():
        meta[name] = dict(meta.get(name) or {}, **spec) if isinstance(spec, dict) else spec
    return masking.secret_names(meta)


def execution_masker(execs: Executions, doc: Dict[str, Any], extra_values: List[Any],
                     names_of: Callable[[Dict[str, Any]], List[str]] = secret_names) -> masking.Masker:
    """The masker of an execution read with its secrets: its secret parameters (names and values),
    those of its ancestors (a workflow hands its secrets to children) and `extra_values`.
    `names_of`: an execution's secret parameter names (default: from its own runner and action)."""
    names = names_of(doc)
    values: List[Any] = masking.secret_values(doc.get("parameters"), names) + list(extra_values)
    seen = {doc["id"]}
    parent_id = doc.get("parent")
    while parent_id and parent_id not in seen:
        seen.add(parent_id)
        parent = execs.get_execution(parent_id)
        if parent is None:
            break
        values += masking.secret_values(parent.get("parameters"), names_of(parent))
        parent_id = parent.get("parent")
    return masking.Masker(names, values)


def task_context(api: Any, execs: Executions, doc: Dict[str, Any], task: str,
                 secrets: Optional[List[str]] = None) -> Dict[str, Any]:
    """inbound_context.task_inbound_context of `task` (dotted names allowed) in the workflow of
    `doc`, unmasked (the caller masks it); RerunError when there is no such task."""
    names = secret_names(doc) if secrets is None else secrets
    return inbound_context.task_inbound_context(api, mistral_execution_id(doc), task,
                                                st2_child_resolver(execs, doc["id"]), names)


# ---- re-run check ---------------------------------------------------------------------------

def rerun_check(api: Any, mistral_id: str, tasks: List[str], reset: Optional[List[str]], no_reset: Optional[List[str]],
                resolver: Optional[Callable[[str], Optional[str]]]) -> Dict[str, Any]:
    """What `re-run --tasks` would do, without changing anything.

    {"ok", "workflow_state", "message", "problems": {name: reason}, "tasks": [{name, state, reset,
    with_items, task_ids, in_st2_child}]}.
    """
    out: Dict[str, Any] = {"ok": False, "workflow_execution_id": mistral_id, "tasks": [], "problems": {}}
    root = api.get_execution(mistral_id)
    out["workflow_state"] = root.get("state")
    try:
        resets = rerun.check_reset_names(tasks, reset, no_reset)
    except RerunError as exc:
        out.update(message=str(exc), problems=dict(exc.offenders))
        return out
    for name, do_reset in resets.items():
        found, problem = task_paths.resolve_task(api, root, name, resolver)
        entry: Dict[str, Any] = {"name": name, "reset": do_reset, "state": None, "task_ids": [], "with_items": None,
                                 "in_st2_child": False}
        if not problem:
            entry.update(state=found[0].state, task_ids=[r.task_id for r in found],
                         in_st2_child=any(r.via is not None for r in found))
            try:
                entry["with_items"] = bool(workflow_spec.task_definition(api, found[0].task).get("with-items"))
            except St2MistralError as exc:
                LOG.info("cannot read the definition of task %s: %s", name, exc)
        out["tasks"].append(entry)
    try:
        rerun.plan(api, mistral_id, tasks, reset, no_reset=no_reset, resolve_st2_child=resolver)
    except RerunError as exc:
        out.update(message=str(exc), problems=dict(exc.offenders))
        return out
    except St2MistralError as exc:  # e.g. a definition Mistral no longer has
        out.update(message=str(exc))
        return out
    out.update(ok=True, message="Would re-run %s." % ", ".join(
        "%s (%s)" % (t["name"], "reset" if t["reset"] else "failed items only") for t in out["tasks"]))
    return out


def check_execution(api: Any, execs: Executions, doc: Dict[str, Any], body: Dict[str, Any]) -> Dict[str, Any]:
    """POST rerun_check: `rerun_check` for the request body {tasks, reset?, no_reset?} on `doc`."""
    result = rerun_check(api, mistral_execution_id(doc), string_list(body, "tasks", True) or [],
                         string_list(body, "reset"), string_list(body, "no_reset"),
                         st2_child_resolver(execs, doc["id"]))
    result["execution_id"] = doc["id"]
    result["execution_status"] = doc["status"]
    return result


# ---- resume from next -----------------------------------------------------------------------

def parse_published(tasks: List[str], pairs: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """{task: {var: value}} from "var" / "task.var" keys: a bare variable goes to every task."""
    out: Dict[str, Dict[str, Any]] = {t: {} for t in tasks}
    for key, value in pairs.items():
        task, _, var = key.rpartition(".")
        if task:
            if task not in out:
                raise InvalidParametersError('Variable "%s" names task "%s" which is not among --tasks (%s).' % (
                    key, task, ", ".join(tasks)))
            out[task][var] = value
        else:
            for t in tasks:
                out[t][var] = value
    return out


def string_list(body: Dict[str, Any], key: str, required: bool = False) -> Optional[List[str]]:
    """body[key] as a list of task names ("a,b" accepted); InvalidParametersError otherwise."""
    if body.get(key) is None and required:
        raise InvalidParametersError('"%s" (a list of task names) is required.' % key)
    return task_paths.task_name_list(body.get(key), '"%s"' % key, InvalidParametersError, comma_separated=True)


@dataclass(frozen=True)
class ResumeRequest:
    """A checked POST resume_next: the re-run options the runner reads from context["re-run"]."""

    tasks: List[str]
    published: Dict[str, Dict[str, Any]]
    overrides: Dict[str, Any]

    def rerun_options(self) -> Dict[str, Any]:
        """context["re-run"] beyond {"ref"}: resume after `tasks` with the published variables."""
        options: Dict[str, Any] = {"tasks": list(self.tasks), "reset": [], "next": True,
                                   "published": {t: v for t, v in self.published.items() if v}}
        if self.overrides:
            options["context"] = dict(self.overrides)
        return options


def resume_request(body: Dict[str, Any]) -> ResumeRequest:
    """The body {tasks, variables: {var | task.var: value} | published: {task: {var: value}},
    context?} checked; InvalidParametersError naming the bad field."""
    tasks = string_list(body, "tasks", True) or []
    published = body.get("published") or {}
    if body.get("variables"):
        if not isinstance(body["variables"], dict):
            raise InvalidParametersError('"variables" must be an object of name -> value.')
        published = parse_published(tasks, body["variables"])
    if not isinstance(published, dict) or not all(isinstance(v, dict) for v in published.values()):
        raise InvalidParametersError('"published" must map task name -> {variable: value}.')
    overrides = body.get("context") or {}
    if not isinstance(overrides, dict):
        raise InvalidParametersError('"context" must be an object of env variable -> value.')
    return ResumeRequest(tasks, published, overrides)


def check_resume(api: Any, execs: Executions, doc: Dict[str, Any], request: ResumeRequest) -> None:
    """Refuses (MissingRequirementsError naming the variables each task lacks, or RerunError when
    the tasks cannot be resumed after) before any execution is created."""
    missing = resume_from_next.missing_variables(api, mistral_execution_id(doc), request.tasks, request.published,
                                                 st2_child_resolver(execs, doc["id"]))
    if missing:
        raise MissingRequirementsError(
            "Cannot resume from the next tasks: missing published variables: %s." % "; ".join(
                "task %r needs %s" % (t, ", ".join(v)) for t, v in missing.items()), missing)


def refusal_body(exc: St2MistralError) -> Dict[str, Any]:
    """The JSON body of a refusal: {faultstring, offenders?, missing?}."""
    body: Dict[str, Any] = {"faultstring": str(exc)}
    if isinstance(exc, RerunError):
        body["offenders"] = exc.offenders
    if isinstance(exc, MissingRequirementsError):
        body["missing"] = exc.missing
    return body


def start_recorded(doc: Dict[str, Any]) -> bool:
    """True once a new mistral-v2 execution's runner start is recorded: run() returned (the
    Mistral execution is in its context) or it ended (a refusal at start fails it)."""
    return doc.get("status") in St2.COMPLETED or bool(_mistral_id_of(doc))


def start_failure(doc: Dict[str, Any]) -> Optional[str]:
    """The error of a new execution that failed at start, else None."""
    if doc.get("status") != St2.FAILED:
        return None
    return str((doc.get("result") or {}).get("error") or "the resume failed")
