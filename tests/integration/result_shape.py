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
