"""Builds the StackStorm result of a workflow from Mistral records (pure).

Two shapes (`[mistral] result_format`): "st2" (default, StackStorm's mistral_v2 runner up to 3.2:
the workflow output keys at the top, `extra: {state, state_info}`, `tasks` of the root workflow)
and "nested" (`{"output" | "error", "state_info", "tasks"}` with sub-workflow tasks too).
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional, Tuple

from mistral_v2 import masking, statuses

TRUNCATED = "__truncated__"
PREVIEW_CHARS = 1000
# Result keys that are not (part of) the workflow output; never truncated as a whole.
_NOT_OUTPUT = frozenset({"tasks", "extra", "error", "state_info", TRUNCATED, "original_size",
                         "tasks_omitted"})


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


FORMAT_ST2 = "st2"
FORMAT_NESTED = "nested"
RESULT_FORMATS = (FORMAT_ST2, FORMAT_NESTED)

# Workflow states whose output StackStorm's runner copied into the result (else {}).
_OUTPUT_STATES = frozenset({statuses.SUCCESS, statuses.ERROR, statuses.CANCELLED, statuses.PAUSED})


def check_format(result_format: str) -> str:
    """`result_format` if it is one of RESULT_FORMATS, else ValueError naming the choices."""
    if result_format not in RESULT_FORMATS:
        raise ValueError("Unknown result format %r (choose one of: %s)"
                         % (result_format, ", ".join(RESULT_FORMATS)))
    return result_format


def _st2_result(execution: Dict[str, Any], tasks: List[Dict[str, Any]]) -> Dict[str, Any]:
    state = execution.get("state")
    output = parse_json(execution.get("output")) if state in _OUTPUT_STATES else None
    result: Dict[str, Any] = dict(output) if isinstance(output, dict) else {}
    if output is not None and not isinstance(output, dict):
        result["result"] = output
    result["extra"] = {"state": state, "state_info": execution.get("state_info")}
    root_id = execution.get("id")
    result["tasks"] = [t for t in tasks if root_id is None or t.get("workflow_execution_id") == root_id]
    return result


def _nested_result(execution: Dict[str, Any], tasks: List[Dict[str, Any]]) -> Dict[str, Any]:
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


def build_result(execution: Dict[str, Any], tasks: List[Dict[str, Any]],
                 result_format: str = FORMAT_ST2) -> Dict[str, Any]:
    """The StackStorm result of a root workflow execution; `tasks` = entries of the whole tree.

    "st2": {<output keys>..., "extra": {"state", "state_info"}, "tasks": <root workflow's tasks>};
    the output is copied once the workflow is SUCCESS, ERROR, CANCELLED or PAUSED (Mistral's
    output of a failed workflow is {"result": <error>} plus its output-on-error).
    "nested": {"output" | "error", "state_info", "tasks": <every task incl. sub-workflows>}.
    """
    if check_format(result_format) == FORMAT_NESTED:
        return _nested_result(execution, tasks)
    return _st2_result(execution, tasks)


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
    for key, value in result.items():  # the output ("output" nested, its keys at the top in "st2")
        if key not in _NOT_OUTPUT and value is not None:
            slots.append((_size(value), capped, key))
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
              secret_values: Iterable[Any] = (),
              result_format: str = FORMAT_ST2) -> Tuple[str, Dict[str, Any]]:
    """(status, capped result with secrets masked by key and value) for a root execution and its tasks
    (the status counts sub-workflow tasks whatever the result shape)."""
    names = list(secret_names)
    values = execution_secrets(execution, names) + list(secret_values)
    status = st2_status(execution, tasks)
    result = masking.mask(build_result(execution, tasks, result_format), names, values)
    return status, (cap_result(result, max_size) if max_size else result)
