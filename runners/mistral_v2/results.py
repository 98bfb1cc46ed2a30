"""Builds the StackStorm result {"output" | "error", "tasks": [...]} from Mistral records (pure)."""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional, Tuple

from mistral_v2 import masking, statuses

TRUNCATED = "__truncated__"
PREVIEW_CHARS = 1000


def parse_json(value: Any) -> Any:
    """Mistral returns JSON columns as strings; decode them, leave anything else untouched."""
    if isinstance(value, str) and (value[:1] in ("{", "[", '"') or value in ("null", "true", "false")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def json_object(value: Any) -> Dict[str, Any]:
    """A JSON object field of a Mistral record (string, dict or None) as a dict ({} otherwise)."""
    parsed = parse_json(value)
    return parsed if isinstance(parsed, dict) else {}


def execution_env(execution: Dict[str, Any]) -> Dict[str, Any]:
    """The env stored in a Mistral workflow execution's params."""
    return json_object(json_object(execution.get("params")).get("env"))


def _runtime_has_items(task: Dict[str, Any]) -> bool:
    ctx = parse_json(task.get("runtime_context"))
    return isinstance(ctx, dict) and "with_items" in ctx


def _index(record: Dict[str, Any]) -> Tuple[int, str]:
    ctx = parse_json(record.get("runtime_context")) or {}
    params = parse_json(record.get("params")) or {}
    idx = ctx.get("index") if isinstance(ctx, dict) else None
    if idx is None and isinstance(params, dict):
        idx = params.get("index")
    return (idx if isinstance(idx, int) else 0, record.get("created_at") or "")


def _action_result(action_ex: Dict[str, Any]) -> Any:
    output = parse_json(action_ex.get("output"))
    if isinstance(output, dict) and set(output) <= {"result"}:
        return output.get("result")
    return output


def _public_input(value: Any) -> Any:
    """An action input without `st2_context` (Mistral merges it from the env; it holds the token)."""
    if isinstance(value, dict) and "st2_context" in value:
        return {k: v for k, v in value.items() if k != "st2_context"}
    return value


def task_entry(task: Dict[str, Any], action_exs: List[Dict[str, Any]],
               sub_exs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One element of result["tasks"] from a Mistral task and its action/sub-workflow executions."""
    if sub_exs:
        children = sorted(sub_exs, key=_index)
        results = [parse_json(e.get("output")) for e in children]
        inputs = [parse_json(e.get("input")) for e in children]
    else:
        children = sorted(action_exs, key=_index)
        results = [_action_result(a) for a in children]
        inputs = [_public_input(parse_json(a.get("input"))) for a in children]
    many = _runtime_has_items(task) or len(children) > 1
    return {
        "id": task.get("id"),
        "name": task.get("name"),
        "workflow_execution_id": task.get("workflow_execution_id"),
        "workflow_name": task.get("workflow_name"),
        "state": task.get("state"),
        "state_info": task.get("state_info"),
        "input": inputs if many else (inputs[0] if inputs else None),
        "published": parse_json(task.get("published")) or {},
        "result": results if many else (results[0] if results else None),
        "created_at": task.get("created_at"),
        "updated_at": task.get("updated_at"),
    }


def build_tasks(tasks: Iterable[Dict[str, Any]], action_exs: Iterable[Dict[str, Any]],
                sub_exs: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """result["tasks"] for every task of a workflow execution and its sub-workflows."""
    by_task_actions: Dict[str, List[Dict[str, Any]]] = {}
    for a in action_exs:
        by_task_actions.setdefault(str(a.get("task_execution_id")), []).append(a)
    by_task_subs: Dict[str, List[Dict[str, Any]]] = {}
    for e in sub_exs:
        by_task_subs.setdefault(str(e.get("task_execution_id")), []).append(e)
    entries = [task_entry(t, by_task_actions.get(str(t.get("id")), []), by_task_subs.get(str(t.get("id")), []))
               for t in tasks]
    return sorted(entries, key=lambda e: e["created_at"] or "")  # stable: ties keep Mistral's order


def build_result(execution: Dict[str, Any], tasks: List[Dict[str, Any]]) -> Dict[str, Any]:
    """{"output"| "error", "state_info", "tasks"} for a root workflow execution."""
    state = execution.get("state")
    result: Dict[str, Any] = {}
    output = parse_json(execution.get("output"))
    if state == statuses.ERROR:
        result["error"] = execution.get("state_info") or "Workflow failed."
        if output and not (isinstance(output, dict) and set(output) <= {"result"}):
            result["output"] = output
    elif output is not None:
        result["output"] = output
    if execution.get("state_info"):
        result["state_info"] = execution.get("state_info")
    result["tasks"] = tasks
    return result


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str))


def _marker(value: Any, size: int) -> Dict[str, Any]:
    text = json.dumps(value, default=str)
    return {TRUNCATED: True, "original_size": size, "preview": text[:PREVIEW_CHARS]}


def cap_result(result: Dict[str, Any], max_size: int) -> Dict[str, Any]:
    """`result` unchanged if its JSON fits in `max_size` bytes, else with its largest parts replaced
    by {"__truncated__": true, "original_size": n, "preview": ...} and a top-level marker."""
    total = _size(result)
    if total <= max_size:
        return result
    capped = dict(result)
    capped["tasks"] = [dict(t) for t in result.get("tasks", [])]
    slots: List[Tuple[int, Dict[str, Any], str]] = []
    if "output" in capped:
        slots.append((_size(capped["output"]), capped, "output"))
    for t in capped["tasks"]:
        for key in ("result", "input", "published"):
            if t.get(key) is not None:
                slots.append((_size(t[key]), t, key))
    slots.sort(key=lambda s: s[0], reverse=True)
    capped[TRUNCATED] = True
    capped["original_size"] = total
    for size, holder, key in slots:
        if _size(capped) <= max_size or size <= PREVIEW_CHARS + 100:
            break
        holder[key] = _marker(holder[key], size)
    if _size(capped) > max_size:  # too many tasks even after trimming: keep the first ones
        keep: List[Dict[str, Any]] = []
        budget = max_size - _size({k: v for k, v in capped.items() if k != "tasks"}) - 200
        for t in capped["tasks"]:
            budget -= _size(t) + 2
            if budget < 0:
                break
            keep.append(t)
        capped["tasks_omitted"] = len(capped["tasks"]) - len(keep)
        capped["tasks"] = keep
    return capped


def st2_status(execution: Dict[str, Any], tasks: Iterable[Dict[str, Any]]) -> str:
    """StackStorm status of a root execution given every task (incl. sub-workflow tasks)."""
    return statuses.to_st2_status(str(execution.get("state")), [str(t.get("state")) for t in tasks])


def execution_secrets(execution: Dict[str, Any], secret_names: Iterable[str] = ()) -> List[Any]:
    """Secret values of a Mistral workflow execution: its secret inputs and its env's credentials."""
    names = list(secret_names)
    params = parse_json(execution.get("params"))
    env = parse_json(params.get("env")) if isinstance(params, dict) else None
    return masking.secret_values(parse_json(execution.get("input")), names,
                                 *masking.env_credentials(env if isinstance(env, dict) else None))


def summarize(execution: Dict[str, Any], tasks: List[Dict[str, Any]],
              max_size: Optional[int] = None,
              secret_names: Iterable[str] = (),
              secret_values: Iterable[Any] = ()) -> Tuple[str, Dict[str, Any]]:
    """(status, capped result with secrets masked by key and value) for a root execution and its tasks."""
    names = list(secret_names)
    values = execution_secrets(execution, names) + list(secret_values)
    status = st2_status(execution, tasks)
    result = masking.mask(build_result(execution, tasks), names, values)
    return status, (cap_result(result, max_size) if max_size else result)
