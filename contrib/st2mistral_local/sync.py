"""Keeps executions in step with Mistral: the reconciler thread and the once-only child callbacks."""
from __future__ import annotations

import concurrent.futures
import importlib
import logging
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from mistral_v2.exceptions import MistralAPIError, St2MistralError
from st2mistral_local import transitions
from st2mistral_local.container import Container
from st2mistral_local.runners import MISTRAL_RUNNER
from st2mistral_local.store import Store

LOG = logging.getLogger(__name__)

CALLBACK_SOURCE = "mistral_v2"


def _querier() -> Any:
    module = importlib.import_module("mistral_v2.query")
    cls = module.MistralResultsQuerier
    try:
        return cls()
    except TypeError:  # st2's historic querier took an id
        return cls("st2mistral-local")


def _callback_handler() -> Any:
    return importlib.import_module("mistral_v2.callback").MistralCallbackHandler


def _normalize(items: List[Tuple[str, Dict[str, Any]]], answer: Any) -> Dict[str, Tuple[str, Any]]:
    """query_many's answer as {execution_id: (status, result)}; accepts a mapping, a list of
    (id, status, result) or a list of (status, result) aligned with `items`."""
    out: Dict[str, Tuple[str, Any]] = {}
    if isinstance(answer, dict):
        for ex_id, value in answer.items():
            if isinstance(value, (tuple, list)) and len(value) >= 2:
                out[ex_id] = (value[0], value[1])
        return out
    for index, value in enumerate(answer or []):
        if isinstance(value, (tuple, list)) and len(value) == 3:
            out[value[0]] = (value[1], value[2])
        elif isinstance(value, (tuple, list)) and len(value) == 2 and index < len(items):
            out[items[index][0]] = (value[0], value[1])
    return out


class Reconciler:
    """Polls Mistral for every unfinished mistral-v2 execution and retries pending callbacks."""

    def __init__(self, store: Store, container: Container, interval: float, batch_size: int = 50) -> None:
        self.store = store
        self.container = container
        self.interval = interval
        self.batch_size = batch_size
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._querier: Any = None
        # Callbacks get their own threads so long shell actions cannot delay reporting to Mistral.
        self.callback_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="st2-callback")
        container.on_completed = self.completed

    def start(self) -> None:
        """Start the background thread (daemon)."""
        self._thread = threading.Thread(target=self._loop, name="st2-reconciler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for it briefly."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.callback_pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep reconciling whatever one round did
                LOG.exception("reconcile round failed")
            self._stop.wait(self.interval)

    def run_once(self) -> Dict[str, int]:
        """One round: query workflows, then apply callbacks still due. Returns counts."""
        counts = {"queried": 0, "updated": 0, "callbacks": 0}
        started = time.monotonic()
        docs, _ = self.store.list_executions(runner_type=MISTRAL_RUNNER,
                                             statuses_not_in=sorted(transitions.COMPLETED), ascending=True)
        items = [(d["id"], dict(d["context"]["mistral"])) for d in docs
                 if isinstance((d.get("context") or {}).get("mistral"), dict)
                 and d["context"]["mistral"].get("execution_id")]
        for start in range(0, len(items), self.batch_size):
            batch = items[start:start + self.batch_size]
            counts["queried"] += len(batch)
            for ex_id, (status, result) in self._query(batch).items():
                if self.container.is_busy(ex_id, since=started):
                    continue  # a pause/resume/cancel is being applied; the next round sees its outcome
                try:
                    status = self.container.settle_status(ex_id, status)
                    _, changed = self.container.update(ex_id, status, result=result)
                    counts["updated"] += int(changed)
                except St2MistralError as exc:
                    LOG.warning("cannot record queried status of %s: %s", ex_id, exc)
        due, _ = self.store.list_executions(callback_states=["pending", "failed"], ascending=True)
        for doc in due:
            if transitions.is_completed(doc["status"]):
                counts["callbacks"] += int(self.apply_callback(doc))
        return counts

    def _query(self, batch: List[Tuple[str, Dict[str, Any]]]) -> Dict[str, Tuple[str, Any]]:
        try:
            if self._querier is None:
                self._querier = _querier()
        except (ImportError, AttributeError) as exc:
            LOG.warning("mistral_v2.query is not available: %s", exc)
            return {}
        if hasattr(self._querier, "query_many"):
            try:
                return _normalize(batch, self._querier.query_many(batch))
            except St2MistralError as exc:
                LOG.warning("querying Mistral failed: %s", exc)
                return {}
        out = {}
        for ex_id, query_context in batch:
            try:
                out[ex_id] = tuple(self._querier.query(ex_id, query_context))[:2]
            except St2MistralError as exc:
                LOG.warning("querying Mistral for %s failed: %s", ex_id, exc)
        return out

    def fresh(self, execution_id: str) -> Optional[Tuple[str, Any]]:
        """(status, result) of one mistral-v2 execution read from Mistral now, or None."""
        doc = self.container.get(execution_id)
        mistral_ctx = (doc.get("context") or {}).get("mistral")
        if not isinstance(mistral_ctx, dict) or not mistral_ctx.get("execution_id"):
            return None
        return self._query([(execution_id, dict(mistral_ctx))]).get(execution_id)

    def completed(self, doc: Dict[str, Any]) -> None:
        """Hook run when an execution completes: report a Mistral child back (on a worker)."""
        if (doc.get("callback") or {}).get("source") == CALLBACK_SOURCE:
            try:
                self.callback_pool.submit(self.apply_callback, doc)
            except RuntimeError:  # shutting down: still pending, applied after the restart
                LOG.info("host stopping: callback of %s left for the next start", doc["id"])

    def apply_callback(self, doc: Dict[str, Any]) -> bool:
        """Call MistralCallbackHandler.callback once for a completed child; True when applied now."""
        callback = doc.get("callback") or {}
        if callback.get("source") != CALLBACK_SOURCE or not callback.get("url"):
            return False
        if not self.store.claim_callback(doc["id"]):
            return False
        fresh = self.store.get_execution(doc["id"]) or doc
        try:
            handler = _callback_handler()
            handler.callback(callback["url"], fresh.get("context") or {}, fresh["status"], fresh.get("result"))
        except MistralAPIError as exc:  # Mistral refused (4xx): retrying cannot help
            LOG.warning("callback of execution %s refused by Mistral (not retried): %s", doc["id"], exc)
            self.store.set_callback_state(doc["id"], "rejected")
            return False
        except Exception as exc:  # unreachable or unexpected: retried on the next round
            LOG.warning("callback of execution %s to Mistral failed (will retry): %s", doc["id"], exc)
            self.store.set_callback_state(doc["id"], "failed")
            return False
        self.store.set_callback_state(doc["id"], "applied")
        LOG.info("callback of execution %s applied", doc["id"])
        return True

