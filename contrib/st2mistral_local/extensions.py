"""Mistral extension endpoints (/api/v1/mistral/...): task tree, inbound context, resume-from-next, re-run check."""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional

from mistral_v2 import inbound_context, rerun, resume_from_next, task_paths, workflow_spec
from mistral_v2.exceptions import (
    InvalidOperationError,
    InvalidParametersError,
    MissingRequirementsError,
    RerunError,
    St2MistralError,
)
from mistral_v2.mistral_api import shared as shared_api
from mistral_v2.statuses import St2
from st2mistral_local import params

LOG = logging.getLogger(__name__)

API = "/api/v1/mistral"
MISTRAL_RUNNER = "mistral-v2"
START_WAIT_SECONDS = 30.0


def _mistral_api() -> Any:
    return shared_api()


def mistral_execution_id(doc: Dict[str, Any]) -> str:
    """The Mistral workflow execution of a StackStorm execution, or InvalidOperationError."""
    if (doc.get("runner") or {}).get("name") != MISTRAL_RUNNER:
        raise InvalidOperationError('Execution %s runs action %s (runner "%s"), not a Mistral workflow.' % (
            doc["id"], doc["action"]["ref"], (doc.get("runner") or {}).get("name")))
    ex_id = ((doc.get("context") or {}).get("mistral") or {}).get("execution_id")
    if not ex_id:
        raise InvalidOperationError("Execution %s has no Mistral workflow execution (status %s)." % (
            doc["id"], doc["status"]))
    return ex_id


def st2_child_resolver(store: Any, execution_id: str) -> task_paths.ResolveSt2Child:
    """task_paths.st2_child_resolver over the host's store: st2.action action execution id -> the
    Mistral execution id of the StackStorm workflow it started (any depth below `execution_id`)."""
    def list_children(parent_id: str) -> List[Dict[str, Any]]:
        return [c for c in (store.get_execution(i) for i in store.child_ids(parent_id)) if c is not None]

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


def _child_ids_of_tree(store: Any, ex: Dict[str, Any]) -> List[str]:
    """Children of `ex` plus those of the executions it re-runs on the same Mistral execution
    (a re-run continues the original Mistral workflow, whose earlier children belong to the original)."""
    out: List[str] = []
    seen = set()
    current: Optional[Dict[str, Any]] = ex
    mistral_id = _mistral_id_of(ex)
    while current is not None and current["id"] not in seen:
        seen.add(current["id"])
        out += [c for c in store.child_ids(current["id"]) if c not in out]
        ref = ((current.get("context") or {}).get("re-run") or {}).get("ref")
        current = store.get_execution(ref) if ref else None
        if current is not None and _mistral_id_of(current) != mistral_id:
            break
    return out


def execution_tree(api: Any, store: Any, doc: Dict[str, Any]) -> Dict[str, Any]:
    """The StackStorm execution `doc` with its Mistral workflow tree, nested StackStorm children included."""
    def st2_node(ex: Dict[str, Any]) -> Dict[str, Any]:
        node = {"id": ex["id"], "action": ex["action"]["ref"], "status": ex["status"],
                "runner": (ex.get("runner") or {}).get("name"), "workflow": None}
        children: Dict[str, List[Dict[str, Any]]] = {}
        for child_id in _child_ids_of_tree(store, ex):
            child = store.get_execution(child_id)
            task_id = (((child or {}).get("context") or {}).get("mistral") or {}).get("task_execution_id")
            if child is not None and task_id:
                children.setdefault(task_id, []).append(child)
        ex_id = ((ex.get("context") or {}).get("mistral") or {}).get("execution_id")
        if node["runner"] == MISTRAL_RUNNER and ex_id:
            node["workflow"] = workflow_node(api, api.get_execution(ex_id), children, st2_node)
        return node

    mistral_execution_id(doc)
    return st2_node(doc)


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


# ---- resume from next -----------------------------------------------------------------------

def resume_requirements(api: Any, mistral_id: str, tasks: List[str], published: Dict[str, Dict[str, Any]],
                        resolver: Optional[Callable[[str], Optional[str]]]) -> Dict[str, List[str]]:
    """Missing variables per task for resuming after `tasks` (empty when nothing is missing);
    RerunError when the tasks cannot be resumed after at all."""
    return resume_from_next.missing_variables(api, mistral_id, tasks, published, resolver)


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


def _refusal(exc: RerunError, status: int = 400) -> Any:
    from flask import jsonify

    body: Dict[str, Any] = {"faultstring": str(exc), "offenders": exc.offenders}
    if isinstance(exc, MissingRequirementsError):
        body["missing"] = exc.missing
    resp = jsonify(body)
    resp.status_code = status
    return resp


def _string_list(body: Dict[str, Any], key: str, required: bool = False) -> Optional[List[str]]:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidParametersError('"%s" (a list of task names) is required.' % key)
        return None
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidParametersError('"%s" must be a list of task names.' % key)
    return value


def register(app: Any, host: Any) -> None:
    """Add the /api/v1/mistral/... routes."""
    from flask import Response, g, jsonify, request

    from st2mistral_local import views

    def body() -> Dict[str, Any]:
        data = request.get_json(silent=True)
        if data is None and not request.get_data():
            return {}
        if not isinstance(data, dict):
            raise InvalidParametersError("The request body must be a JSON object.")
        return data

    @app.get(API + "/executions/<execution_id>/tree")
    def tree(execution_id: str) -> Response:
        return jsonify(execution_tree(_mistral_api(), host.store, host.container.get(execution_id)))

    @app.get(API + "/executions/<execution_id>/tasks/<path:task>/context")
    def task_context(execution_id: str, task: str) -> Response:
        doc = host.container.get(execution_id)
        secrets = params.secret_names(host.container.schema_for(doc["action"]))
        try:
            view = inbound_context.task_inbound_context(_mistral_api(), mistral_execution_id(doc), task,
                                                        st2_child_resolver(host.store, execution_id), secrets)
        except RerunError as exc:
            return _refusal(exc, 404)
        return jsonify(views.masker(host.store, doc)(view))

    @app.post(API + "/executions/<execution_id>/rerun_check")
    def check_rerun(execution_id: str) -> Response:
        data = body()
        doc = host.container.get(execution_id)
        result = rerun_check(_mistral_api(), mistral_execution_id(doc), _string_list(data, "tasks", True) or [],
                             _string_list(data, "reset"), _string_list(data, "no_reset"),
                             st2_child_resolver(host.store, execution_id))
        result["execution_id"] = execution_id
        result["execution_status"] = doc["status"]
        return jsonify(result)

    @app.post(API + "/executions/<execution_id>/resume_next")
    def resume_next(execution_id: str) -> Response:
        data = body()
        tasks = _string_list(data, "tasks", True) or []
        published = data.get("published") or {}
        if data.get("variables"):
            if not isinstance(data["variables"], dict):
                raise InvalidParametersError('"variables" must be an object of name -> value.')
            published = parse_published(tasks, data["variables"])
        overrides = data.get("context") or {}
        if not isinstance(overrides, dict):
            raise InvalidParametersError('"context" must be an object of env variable -> value.')
        original = host.container.get(execution_id)
        mistral_id = mistral_execution_id(original)
        try:
            missing = resume_requirements(_mistral_api(), mistral_id, tasks, published,
                                          st2_child_resolver(host.store, execution_id))
        except RerunError as exc:
            return _refusal(exc)
        if missing:
            return _refusal(MissingRequirementsError(
                "Cannot resume from the next tasks: missing published variables: %s." % "; ".join(
                    "task %r needs %s" % (t, ", ".join(v)) for t, v in missing.items()), missing))
        published = {t: v for t, v in published.items() if v}
        rerun_body: Dict[str, Any] = {"tasks": tasks, "reset": [], "next": True, "published": published,
                                      "context": overrides, "user": g.user}
        new_doc = host.container.rerun(execution_id, rerun_body, g.user)  # the host's re_run mapping
        # The answer waits for the runner's start (run() returned): "running" is stored before
        # run() is called, and a refusal (failed) only comes back from it.
        new_doc = host.container.wait_started(new_doc["id"], START_WAIT_SECONDS)
        if new_doc["status"] == St2.FAILED:
            error = (new_doc.get("result") or {}).get("error") or "the resume failed"
            resp = jsonify({"faultstring": error, "execution": views.execution(host.store, new_doc)})
            resp.status_code = 400
            return resp
        LOG.info("execution %s resumes %s after tasks %s (Mistral execution %s)", new_doc["id"], execution_id,
                 ", ".join(tasks), mistral_id)
        resp = jsonify(views.execution(host.store, new_doc))
        resp.status_code = 201
        return resp
