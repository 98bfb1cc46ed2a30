"""The host runs st2mistral-sync's engine in-process: its executions port over the store, the
reconciler thread, the completion hook that delivers child callbacks and the hook that cascades
a child's pause up."""
from __future__ import annotations

import concurrent.futures
import importlib
import logging
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from mistral_v2 import statuses
from mistral_v2.statuses import St2
from st2mistral_local.container import Container
from st2mistral_local.runners import MISTRAL_RUNNER
from st2mistral_local.store import Store
from st2mistral_sync.engine import APPLIED, CALLBACK_SOURCE, QueryAnswer, SyncEngine

LOG = logging.getLogger(__name__)

__all__ = ["CALLBACK_SOURCE", "HostExecutions", "Reconciler"]


def _querier() -> Any:
    return importlib.import_module("mistral_v2.query").MistralResultsQuerier()


def _callback_handler() -> Any:
    return importlib.import_module("mistral_v2.callback").MistralCallbackHandler


class HostExecutions:
    """engine.Executions over the host's store and container (callback state kept in the row)."""

    def __init__(self, store: Store, container: Container) -> None:
        self.store = store
        self.container = container
        self._cycle_started = float("-inf")

    def unfinished_workflows(self) -> List[Dict[str, Any]]:
        self._cycle_started = time.monotonic()
        docs, _ = self.store.list_executions(runner_type=MISTRAL_RUNNER,
                                             statuses_not_in=sorted(St2.COMPLETED), ascending=True)
        return docs

    def get(self, execution_id: str) -> Dict[str, Any]:
        return self.store.get_execution(execution_id) or {}

    def record(self, doc: Dict[str, Any], status: str, result: Dict[str, Any]) -> bool:
        ex_id = doc["id"]
        since = self._cycle_started

        def stale() -> bool:  # a pause/resume/cancel is (or was, since the query) being applied
            return self.container.is_busy(ex_id, since=since)

        if stale():
            return False  # the next cycle sees its outcome
        status = self.container.settle_status(ex_id, status)
        # Asked again atomically with the change: an operation may start between here and there.
        _, changed = self.container.update(ex_id, status, result=result, unless=stale)
        return changed

    def due_callbacks(self, docs: List[Dict[str, Any]], answers: QueryAnswer) -> List[Dict[str, Any]]:
        due, _ = self.store.list_executions(callback_states=["pending", "failed"], ascending=True)
        return [doc for doc in due if statuses.is_completed(doc["status"])]

    def claim_callback(self, doc: Dict[str, Any]) -> bool:
        return self.store.claim_callback(doc["id"])

    def paused_children(self, parent_ids: List[str]) -> List[Dict[str, Any]]:
        return []  # the host runs no action-chain or orquesta execution (and sees every pause in-process)

    def callback_done(self, doc: Dict[str, Any], outcome: str) -> None:
        state = {"applied": "applied", "already": "applied", "rejected": "rejected"}.get(outcome, "failed")
        self.store.set_callback_state(doc["id"], state)


class Reconciler:
    """The engine's reconcile cycle on a thread every `interval`, callbacks on worker threads."""

    def __init__(self, store: Store, container: Container, interval: float, batch_size: int = 50) -> None:
        self.store = store
        self.container = container
        self.interval = interval
        self.engine = SyncEngine(HostExecutions(store, container), querier_factory=lambda: _querier(),
                                 handler_factory=lambda: _callback_handler(), batch_size=batch_size,
                                 st2_executions=container.st2_executions)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        # Callbacks get their own threads so long shell actions cannot delay reporting to Mistral.
        self.callback_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="st2-callback")
        container.on_completed = self.completed
        container.on_child_pausing = self.engine.on_update  # the engine's pause-up rule

    def start(self) -> None:
        """Start the background thread (daemon)."""
        self._thread = threading.Thread(target=self.engine.run, args=(self.interval, self._stop),
                                        name="st2-reconciler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for it briefly."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.callback_pool.shutdown(wait=False, cancel_futures=True)

    def run_once(self) -> Dict[str, int]:
        """One cycle: query workflows, then apply callbacks still due. Returns counts."""
        return self.engine.reconcile_once()

    def fresh(self, execution_id: str) -> Optional[Tuple[str, Any]]:
        """(status, result) of one mistral-v2 execution read from Mistral now, or None."""
        doc = self.container.get(execution_id)
        mistral_ctx = (doc.get("context") or {}).get("mistral")
        if not isinstance(mistral_ctx, dict) or not mistral_ctx.get("execution_id"):
            return None
        return self.engine.query([(execution_id, dict(mistral_ctx))]).get(execution_id)

    def completed(self, doc: Dict[str, Any]) -> None:
        """Hook run when an execution completes: report a Mistral child back (on a worker)."""
        if (doc.get("callback") or {}).get("source") == CALLBACK_SOURCE:
            try:
                self.callback_pool.submit(self.engine.on_update, doc)
            except RuntimeError:  # shutting down: still pending, applied after the restart
                LOG.info("host stopping: callback of %s left for the next start", doc["id"])

    def apply_callback(self, doc: Dict[str, Any]) -> bool:
        """Deliver a completed child's callback once; True when applied now."""
        return self.engine.deliver(doc) == APPLIED
