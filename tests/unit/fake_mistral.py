"""An in-memory Mistral for unit tests: executions, their tasks and sub-workflow executions, read as MistralAPI."""
from __future__ import annotations

from typing import Any, Dict, List


class MistralReads:
    """MistralAPI's read calls over dicts the test fills; subclasses add the calls their tests need."""

    def __init__(self) -> None:
        self.executions: Dict[str, Dict[str, Any]] = {}
        self.tasks: Dict[str, List[Dict[str, Any]]] = {}
        self.subs: Dict[str, List[Dict[str, Any]]] = {}

    def get_execution(self, ex_id: str) -> Dict[str, Any]:
        return dict(self.executions[ex_id])

    def list_tasks(self, ex_id: str) -> List[Dict[str, Any]]:
        return list(self.tasks.get(ex_id, []))

    def list_executions(self, task: str) -> List[Dict[str, Any]]:
        return list(self.subs.get(task, []))
