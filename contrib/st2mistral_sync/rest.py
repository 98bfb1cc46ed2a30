"""The engine's executions over StackStorm's REST API (what a separate process can reach)."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from mistral_v2 import statuses
from mistral_v2.cascade import RestSt2Executions
from mistral_v2.statuses import St2
from st2mistral_sync.engine import (
    SILENT_CHILD_RUNNERS,
    QueryAnswer,
    may_await_callback,
    parent_of,
    task_states,
    wants_callback,
)

LOG = logging.getLogger(__name__)

RUNNER = "mistral-v2"
PAGE = 100
# Statuses of a mistral-v2 execution that has a Mistral execution and is not completed.
UNFINISHED = (St2.RUNNING, St2.PAUSING, St2.PAUSED, St2.CANCELING, St2.RESUMING)
# StackStorm asked for these; while Mistral still says running the request is in flight.
_REQUESTED = (St2.PAUSING, St2.CANCELING)
_LIGHT = "id,status,context,parent,liveaction"


class RestExecutions(RestSt2Executions):
    """engine.Executions over `GET/PUT /executions`; Mistral is the record of delivered callbacks."""

    def _list(self, **params: Any) -> List[Dict[str, Any]]:
        found: List[Dict[str, Any]] = []
        offset = 0
        while True:
            page = list(self._call("GET", "/executions", params=dict(
                params, limit=PAGE, offset=offset, include_attributes=_LIGHT)) or [])
            found.extend(page)
            if len(page) < PAGE:
                return found
            offset += PAGE

    def unfinished_workflows(self) -> List[Dict[str, Any]]:
        docs: Dict[str, Dict[str, Any]] = {}
        for status in UNFINISHED:
            for doc in self._list(runner=RUNNER, status=status):
                docs.setdefault(str(doc["id"]), doc)
        return sorted(docs.values(), key=lambda d: d["id"])

    def get(self, execution_id: str) -> Dict[str, Any]:
        return self.get_execution(execution_id)

    def record(self, doc: Dict[str, Any], status: str, result: Dict[str, Any]) -> bool:
        current = doc.get("status")
        if status == current and not statuses.is_completed(status):
            return False  # progress (tasks) arrives with the push; a changed status is what counts
        if current in _REQUESTED and status == St2.RUNNING:
            return False  # a pause/cancel is being applied; the next cycle sees its outcome
        self._call("PUT", "/executions/%s" % doc["id"], json={"status": status, "result": result})
        LOG.info("execution %s: %s -> %s (from Mistral)", doc["id"], current, status)
        return True

    def due_callbacks(self, docs: List[Dict[str, Any]], answers: QueryAnswer) -> List[Dict[str, Any]]:
        due: List[Dict[str, Any]] = []
        for doc in docs:
            answer: Optional[Any] = answers.get(str(doc["id"]))
            states = task_states(answer[1]) if answer else {}
            if "RUNNING" not in states.values():
                continue  # no task left that could be waiting for a child
            for child in self._list(parent=doc["id"]):
                task_id = str(((child.get("context") or {}).get("mistral") or {}).get("task_execution_id"))
                if wants_callback(child) and may_await_callback(task_id, states):
                    due.append(child)
        return due

    def paused_children(self, parent_ids: List[str]) -> List[Dict[str, Any]]:
        wanted = set(parent_ids)
        found: List[Dict[str, Any]] = []
        for runner in SILENT_CHILD_RUNNERS:
            for status in (St2.PAUSING, St2.PAUSED):
                found.extend(d for d in self._list(runner=runner, status=status) if parent_of(d) in wanted)
        return found

    def claim_callback(self, doc: Dict[str, Any]) -> bool:
        return True  # Mistral's action execution state tells whether it was delivered

    def callback_done(self, doc: Dict[str, Any], outcome: str) -> None:
        return None
