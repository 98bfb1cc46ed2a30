"""Reading a workflow's StackStorm result in tests: output keys at the top, `extra`, root `tasks`."""
from __future__ import annotations

from typing import Any, Dict

NOT_OUTPUT = ("extra", "tasks")


def output_of(result: Dict[str, Any]) -> Dict[str, Any]:
    """The workflow output keys of a StackStorm-shaped result (without `extra` and `tasks`)."""
    return {k: v for k, v in result.items() if k not in NOT_OUTPUT}


def failure_of(result: Dict[str, Any]) -> str:
    """Why a workflow failed: Mistral's state_info (`extra`), or a runner refusal's `error`."""
    return (result.get("extra") or {}).get("state_info") or result.get("error") or ""


def task_states(doc: Dict[str, Any], own_only: bool = False) -> Dict[str, str]:
    """Task name -> Mistral state from an execution's result `tasks`; with `own_only`, only the tasks
    of the execution's own workflow (not those of its workbook's sub-workflows)."""
    own = (doc.get("context") or {}).get("mistral", {}).get("workflow_name")
    return {t["name"]: t["state"] for t in (doc.get("result") or {}).get("tasks", [])
            if not own_only or t.get("workflow_name") == own}


def output_either(result: Dict[str, Any]) -> Dict[str, Any]:
    """The workflow output in either result format: `nested` (under "output", no `extra`) or
    StackStorm's (output_of)."""
    out = result.get("output")
    if isinstance(out, dict) and "extra" not in result:
        return out
    return output_of(result)


def tasks_by_name(doc: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Task name -> task entry of an execution's result `tasks`."""
    return {t["name"]: t for t in doc["result"]["tasks"]}
