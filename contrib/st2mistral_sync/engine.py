"""The sync jobs, shared by st2mistral-sync and the local host: child callbacks, pause-up, reconcile, sweep."""
from __future__ import annotations

import contextlib
import datetime
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterator, List, Optional, Protocol, Tuple

from mistral_v2 import cascade, statuses
from mistral_v2.exceptions import MistralAPIError, MistralUnreachableError, St2MistralError
from mistral_v2.statuses import St2

LOG = logging.getLogger(__name__)

CALLBACK_SOURCE = "mistral_v2"
MISTRAL_RUNNER = "mistral-v2"
# Children whose runner never tells a Mistral parent it paused: the sweep looks for them.
SILENT_CHILD_RUNNERS = ("action-chain", "orquesta")
# Outcomes of one callback delivery (and of a pause-up: RESUMED = the child was resumed instead).
APPLIED, ALREADY, REJECTED, FAILED, SKIPPED = "applied", "already", "rejected", "failed", "skipped"
RESUMED = "resumed"

QueryAnswer = Dict[str, Tuple[str, Dict[str, Any]]]
SETTLED_KEPT = 20000


class Executions(Protocol):
    """Where the StackStorm executions are: StackStorm's REST API, or the local host's store."""

    def unfinished_workflows(self) -> List[Dict[str, Any]]:
        """Every mistral-v2 execution not completed ({"id", "status", "context", ...})."""

    def get(self, execution_id: str) -> Dict[str, Any]:
        """The execution now (with its result)."""

    def record(self, doc: Dict[str, Any], status: str, result: Dict[str, Any]) -> bool:
        """Store what Mistral says of `doc`; True when the execution changed."""

    def due_callbacks(self, docs: List[Dict[str, Any]], answers: QueryAnswer) -> List[Dict[str, Any]]:
        """Completed children of `docs` whose callback to Mistral may still be missing."""

    def claim_callback(self, doc: Dict[str, Any]) -> bool:
        """False when this child's callback is already applied or being applied."""

    def callback_done(self, doc: Dict[str, Any], outcome: str) -> None:
        """Remember the outcome of one delivery (APPLIED, ALREADY, REJECTED or FAILED)."""

    def paused_children(self, parent_ids: List[str]) -> List[Dict[str, Any]]:
        """Action-chain and orquesta executions pausing/paused whose parent is one of `parent_ids`."""


class Partition(Protocol):
    """Which instance does which work."""

    def refresh(self) -> None:
        """Catch up with instances that joined or left."""

    def owns(self, key: str) -> bool:
        """Whether this instance handles `key` (a workflow execution id)."""

    def lock(self, key: str) -> "contextlib.AbstractContextManager[bool]":
        """Held while one callback is delivered; yields False when another holder has it."""


class Alone:
    """The partition of a single instance: everything is its own (the local host)."""

    def __init__(self) -> None:
        self._held: set = set()
        self._guard = threading.Lock()

    def refresh(self) -> None:
        return None

    def owns(self, key: str) -> bool:
        return True

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[bool]:
        with self._guard:
            got = key not in self._held
            self._held.add(key)
        try:
            yield got
        finally:
            if got:
                with self._guard:
                    self._held.discard(key)


def callback_of(doc: Dict[str, Any]) -> Dict[str, Any]:
    """The execution's callback ({"source", "url"}), from the document or its liveaction."""
    callback = doc.get("callback") or (doc.get("liveaction") or {}).get("callback") or {}
    return callback if isinstance(callback, dict) else {}


def wants_callback(doc: Dict[str, Any]) -> bool:
    """A completed execution started by Mistral's st2.action (its callback points at Mistral)."""
    callback = callback_of(doc)
    return (callback.get("source") == CALLBACK_SOURCE and bool(callback.get("url"))
            and statuses.is_completed(doc.get("status") or ""))


def parent_of(doc: Dict[str, Any]) -> Optional[str]:
    """The id of the execution's parent StackStorm execution, if it has one."""
    parent = doc.get("parent") or cascade.parent_execution_id(doc.get("context"))
    return str(parent) if parent else None


def wants_pause_up(doc: Dict[str, Any]) -> bool:
    """A child execution that is pausing/paused: its pause may have to go up to its parent."""
    return doc.get("status") in (St2.PAUSING, St2.PAUSED) and parent_of(doc) is not None


def wants_pend(doc: Dict[str, Any]) -> bool:
    """A child started by a Mistral task that went `pending` (an Inquiry, core.ask)."""
    callback = callback_of(doc)
    return (doc.get("status") == St2.PENDING and callback.get("source") == CALLBACK_SOURCE
            and bool(callback.get("url")) and parent_of(doc) is not None)


def runner_name(doc: Dict[str, Any]) -> Optional[str]:
    """The runner of an execution as GET /executions/<id> shows it."""
    runner = doc.get("runner") or {}
    name = runner.get("name") if isinstance(runner, dict) else runner
    return name or (doc.get("action") or {}).get("runner_type")


def _when(value: Any) -> Optional[datetime.datetime]:
    if not isinstance(value, str) or not value:
        return None
    try:
        found = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=datetime.timezone.utc)


def last_entered(doc: Dict[str, Any], status: str) -> Optional[datetime.datetime]:
    """When the execution last entered `status`, from StackStorm's status log (None: unknown)."""
    entries = [e for e in doc.get("log") or [] if isinstance(e, dict) and e.get("status") == status]
    found = [t for t in (_when(e.get("timestamp")) for e in entries) if t is not None]
    return max(found) if found else None


def resumed_after_pause(parent: Dict[str, Any], child: Dict[str, Any]) -> bool:
    """True when the parent was resumed after the child began pausing: the user's last word is to
    run, the child was only left behind (StackStorm refuses to resume a `pausing` execution)."""
    resumed = last_entered(parent, St2.RESUMING)
    paused = last_entered(child, St2.PAUSING) or last_entered(child, St2.PAUSED)
    return resumed is not None and paused is not None and resumed > paused


def owner_key(doc: Dict[str, Any]) -> str:
    """The key that decides which instance handles a child's callback: its parent workflow's id
    (so the instance reconciling the workflow also sweeps its children)."""
    return parent_of(doc) or str(doc.get("id"))


def task_states(result: Any) -> Dict[str, str]:
    """{task execution id: state} of the tasks listed in a reconciled result (the "st2" result
    format lists the root workflow's tasks only, "nested" also sub-workflow tasks)."""
    tasks = result.get("tasks") if isinstance(result, dict) else None
    return {str(t.get("id")): str(t.get("state")) for t in tasks or [] if isinstance(t, dict)}


def may_await_callback(task_id: str, states: Dict[str, str]) -> bool:
    """Whether a child started by task `task_id` may still owe Mistral its callback: its task is
    RUNNING, or not listed (a sub-workflow task); never when the task is known to be finished."""
    return bool(states) and any(v == statuses.RUNNING for v in states.values()) and (
        states.get(task_id, statuses.RUNNING) == statuses.RUNNING)


def _default_querier() -> Any:
    from mistral_v2.query import MistralResultsQuerier
    return MistralResultsQuerier()


def _default_handler() -> Any:
    from mistral_v2.callback import MistralCallbackHandler
    return MistralCallbackHandler


def _default_pend(url: str) -> bool:
    from mistral_v2.callback import pause_task
    return pause_task(url)


class SyncEngine:
    """The three jobs; the caller decides when they run (bus/hook, interval loop)."""

    def __init__(self, executions: Executions, partition: Optional[Partition] = None,
                 querier_factory: Callable[[], Any] = _default_querier,
                 handler_factory: Callable[[], Any] = _default_handler,
                 batch_size: Optional[int] = None,
                 st2_executions: Optional[cascade.St2Executions] = None,
                 pend_handler: Optional[Callable[[str], bool]] = None) -> None:
        self.executions = executions
        # StackStorm's API as the runner's cascade uses it (get, children, pause requests)
        self.st2_executions = st2_executions
        self.partition = partition or Alone()
        self.querier_factory = querier_factory
        self.handler_factory = handler_factory
        self.batch_size = batch_size
        self._querier: Any = None
        self.delivered: Dict[str, int] = {}  # outcome -> count (for logs, tests and benchmarks)
        self.paused_up: Dict[str, int] = {}  # pause-up outcome -> count
        self.pended: Dict[str, int] = {}  # pend outcome -> count
        self.pend_handler: Callable[[str], bool] = pend_handler or _default_pend
        # children whose callback is settled (applied, already there, refused): skipped by later
        # bus messages and sweeps without asking Mistral again
        self._settled: "OrderedDict[str, str]" = OrderedDict()
        self._settled_lock = threading.Lock()

    # -- job 1: child callbacks --------------------------------------------------------------------

    def on_update(self, doc: Dict[str, Any], complete: bool = False) -> Optional[str]:
        """An execution changed (bus message or host hook): cascade a child's pause up, or deliver
        its callback, if it is ours. `complete`: `doc` carries the final status and result (a bus
        message), no re-read needed."""
        if wants_pause_up(doc):
            return self.pause_up(doc)
        if wants_pend(doc):
            return self.pend(doc)
        if not wants_callback(doc):
            return None
        if not self.partition.owns(owner_key(doc)):
            return SKIPPED
        return self.deliver(doc, complete)

    def deliver(self, doc: Dict[str, Any], complete: bool = False) -> str:
        """PUT a completed child's state and result to its Mistral action execution, once.

        Mistral's own answer keeps it once-only (it refuses to complete an action execution twice;
        MistralAPI.complete_action_execution reads it back only when a PUT fails); the partition
        lock keeps two deliveries of one child from racing. Connection errors and 5xx are retried
        by MistralAPI with the [mistral] policy; a delivery that still
        fails is FAILED here and found again by the next sweep.
        """
        if not wants_callback(doc) or self.settled(doc["id"]):
            return SKIPPED
        callback = callback_of(doc)
        began = time.monotonic()
        with self.partition.lock("callback:%s" % doc["id"]) as got:
            if not got or not self.executions.claim_callback(doc):
                return SKIPPED
            outcome = FAILED
            put = 0.0
            try:
                fresh = doc if complete and "result" in doc else (self.executions.get(doc["id"]) or doc)
                put = time.monotonic()
                sent = self.handler_factory().callback(callback["url"], fresh.get("context") or {},
                                                       fresh["status"], fresh.get("result"))
                put = time.monotonic() - put
                outcome = APPLIED if sent is not False else ALREADY
            except MistralAPIError as exc:  # Mistral refused (4xx): retrying cannot help
                LOG.warning("callback of execution %s refused by Mistral (not retried): %s", doc["id"], exc)
                outcome = REJECTED
            except Exception as exc:  # unreachable or unexpected: the sweep retries
                LOG.warning("callback of execution %s to Mistral failed (will retry): %s", doc["id"], exc)
            finally:
                self.executions.callback_done(doc, outcome)
                if outcome != FAILED:
                    self._settle(doc["id"], outcome)
        self.delivered[outcome] = self.delivered.get(outcome, 0) + 1
        if outcome == APPLIED:
            LOG.info("callback of execution %s applied (%s) in %.3f s (Mistral's answer %.3f s)", doc["id"],
                     callback.get("url"), time.monotonic() - began, put)
        return outcome

    # -- job 1b: a child's pause goes up to its mistral-v2 parent --------------------------------------

    def pause_up(self, doc: Dict[str, Any]) -> Optional[str]:
        """A child of a mistral-v2 execution went pausing/paused: pause its ancestors
        (`cascade.pause_up`, the runner's own rule: only a running/resuming parent is asked, so a
        pause that came down from the parent does not bounce). The child's own runner does not
        do it for action-chain and orquesta children. Once per pause: the owner of the parent's
        key does it under the parent's lock, after reading the parent's status again.

        APPLIED: a pause was requested; ALREADY: nothing to pause; RESUMED: the parent was resumed
        after the child began pausing, the now paused child was resumed instead; SKIPPED: not ours,
        or the parent is not a mistral-v2 execution; FAILED: StackStorm refused or is unreachable."""
        parent_id = parent_of(doc)
        if self.st2_executions is None or not parent_id or not self.partition.owns(owner_key(doc)):
            return SKIPPED
        outcome = FAILED
        with self.partition.lock("pause-up:%s" % parent_id) as got:
            if not got:
                return SKIPPED
            try:
                parent = self.st2_executions.get_execution(parent_id)
                if runner_name(parent) != MISTRAL_RUNNER:
                    return SKIPPED  # StackStorm's own workflows cascade up between themselves
                outcome = self._pause_up_or_catch_up(parent, self.st2_executions.get_execution(str(doc["id"])))
            except St2MistralError as exc:
                LOG.warning("cascading the pause of %s up failed: %s", doc["id"], exc)
        self.paused_up[outcome] = self.paused_up.get(outcome, 0) + 1
        return outcome

    def _pause_up_or_catch_up(self, parent: Dict[str, Any], child: Dict[str, Any]) -> str:
        """Pause the parent, unless the parent was resumed after the child began pausing: then the
        child, once paused, is resumed too (what the parent's resume could not do while it was
        pausing) and the parent keeps running."""
        assert self.st2_executions is not None
        if parent.get("status") in (St2.RUNNING, St2.RESUMING) and resumed_after_pause(parent, child):
            if child.get("status") != St2.PAUSED:
                return ALREADY  # still pausing: its `paused` message (or the sweep) comes back here
            self.st2_executions.request_resume(str(child["id"]))
            LOG.info("execution %s paused before its parent %s was resumed: resumed it too", child["id"],
                     parent["id"])
            return RESUMED
        asked = cascade.pause_up(self.st2_executions, str(child["id"]))
        if asked:
            LOG.info("execution %s %s: asked %s to pause too", child["id"], child.get("status"), ", ".join(asked))
        return APPLIED if asked else ALREADY

    def sweep_paused_children(self, docs: List[Dict[str, Any]]) -> int:
        """The pause-up of action-chain/orquesta children whose bus message no instance saw (paused
        while no sync instance ran): each running mistral-v2 parent in `docs` with such a child
        pausing/paused goes through `pause_up` (same rules, once). Returns the parents asked to pause."""
        running = sorted(str(d["id"]) for d in docs if d.get("status") == St2.RUNNING)
        if self.st2_executions is None or not running:
            return 0
        try:
            children = self.executions.paused_children(running)
        except St2MistralError as exc:
            LOG.warning("cannot list paused children: %s", exc)
            return 0
        return sum(int(self.pause_up(child) == APPLIED) for child in children)

    # -- job 1c: a child pending (an Inquiry) under a pausing/paused workflow ---------------------------

    def pend(self, doc: Dict[str, Any]) -> Optional[str]:
        """A child went `pending` (core.ask) while its parent workflow is already pausing/paused
        (another inquiry or a user paused it first, so the parent's own pause did not see this
        child pending): set the child's Mistral task PAUSED, or the parent stays `pausing` for
        ever and StackStorm's `inquiry respond` cannot resume it. A running parent is left
        alone: StackStorm's inquirer asks it to pause and its runner's pause does the same.

        APPLIED: the task was paused; ALREADY: nothing to do; SKIPPED: not ours; FAILED."""
        parent_id = parent_of(doc)
        if self.st2_executions is None or not parent_id or not self.partition.owns(owner_key(doc)):
            return SKIPPED
        outcome = FAILED
        try:
            if self.st2_executions.get_execution(parent_id).get("status") not in (St2.PAUSING, St2.PAUSED):
                outcome = ALREADY
            else:
                outcome = APPLIED if self.pend_handler(callback_of(doc)["url"]) else ALREADY
        except St2MistralError as exc:
            LOG.warning("pausing the Mistral task of pending execution %s failed: %s", doc["id"], exc)
        self.pended[outcome] = self.pended.get(outcome, 0) + 1
        return outcome

    def settled(self, child_id: str) -> bool:
        """True when this process already settled the child's callback."""
        with self._settled_lock:
            return child_id in self._settled

    def _settle(self, child_id: str, outcome: str) -> None:
        with self._settled_lock:
            self._settled[child_id] = outcome
            while len(self._settled) > SETTLED_KEPT:
                self._settled.popitem(last=False)

    # -- job 2 and the sweep -----------------------------------------------------------------------

    def reconcile_once(self) -> Dict[str, int]:
        """One cycle: query Mistral for every unfinished workflow this instance owns, record what
        it says, then deliver the callbacks that were missed. Returns counts."""
        counts = {"queried": 0, "updated": 0, "callbacks": 0, "owned": 0, "unfinished": 0, "paused_up": 0}
        self.partition.refresh()
        docs = self.executions.unfinished_workflows()
        counts["unfinished"] = len(docs)
        mine = [d for d in docs if self.partition.owns(str(d["id"]))]
        counts["owned"] = len(mine)
        items = [(str(d["id"]), dict(d["context"]["mistral"])) for d in mine
                 if isinstance((d.get("context") or {}).get("mistral"), dict)
                 and d["context"]["mistral"].get("execution_id")]
        by_id = {str(d["id"]): d for d in mine}
        answers: QueryAnswer = {}
        size = self.batch_size or max(len(items), 1)
        for start in range(0, len(items), size):
            batch = items[start:start + size]
            counts["queried"] += len(batch)
            answer = self.query(batch)
            answers.update(answer)
            for ex_id, (status, result) in answer.items():
                try:
                    counts["updated"] += int(bool(self.executions.record(by_id[ex_id], status, result)))
                except St2MistralError as exc:
                    LOG.warning("cannot record queried status of %s: %s", ex_id, exc)
        for child in self.executions.due_callbacks(mine, answers):
            if wants_callback(child) and not self.settled(child["id"]) and self.partition.owns(owner_key(child)):
                counts["callbacks"] += int(self.deliver(child) == APPLIED)
        counts["paused_up"] = self.sweep_paused_children(mine)
        return counts

    def query(self, batch: List[Tuple[str, Dict[str, Any]]]) -> QueryAnswer:
        """query_many over `batch`; {} (keep the current statuses) while Mistral is unreachable."""
        if self._querier is None:
            self._querier = self.querier_factory()
        try:
            return dict(self._querier.query_many(batch) or {})
        except MistralUnreachableError as exc:
            LOG.warning("Mistral unreachable, statuses kept for this cycle: %s", exc)
        except St2MistralError as exc:
            LOG.warning("querying Mistral failed: %s", exc)
        return {}

    def run(self, interval: float, stop: threading.Event,
            on_cycle: Optional[Callable[[Dict[str, int]], None]] = None) -> None:
        """reconcile_once every `interval` seconds (the first at once) until `stop` is set."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                counts = self.reconcile_once()
                if on_cycle:
                    on_cycle(counts)
            except Exception:  # keep reconciling whatever one cycle did
                LOG.exception("reconcile cycle failed")
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
