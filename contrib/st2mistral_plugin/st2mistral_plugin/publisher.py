"""The `st2` Mistral notification publisher: pushes workflow status/result to StackStorm."""
from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import zlib
from collections import OrderedDict
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional

from mistral.notifiers import base

from mistral_v2 import masking, statuses
from mistral_v2.exceptions import St2MistralError
from st2mistral_plugin import config, reporting, scrub, st2_api

LOG = logging.getLogger(__name__)

WORKFLOW_PAUSED = "WORKFLOW_PAUSED"
_MAX_REMEMBERED = 10000
# Root states in which task events change the StackStorm status (pausing->paused, ...).
_SETTLING_STATES = frozenset({statuses.PAUSED, statuses.CANCELLED})


class Job(NamedTuple):
    """One notification to process off the engine's thread."""

    ctx: Any
    ex_id: str
    data: Dict[str, Any]
    event: str


class Push(NamedTuple):
    """One PUT to StackStorm."""

    st2_execution_id: str
    st2_context: Mapping[str, Any]
    body: Dict[str, Any]


def _st2_facts(wf_ex: Any) -> Optional[Dict[str, Any]]:
    """(st2_execution_id, st2_context) from a workflow's env, or None if StackStorm did not start it."""
    env = (wf_ex.params or {}).get("env") or {}
    st2_id = env.get("st2_execution_id")
    if not st2_id:
        return None
    st2_ctx = ((env.get("__actions") or {}).get("st2.action") or {}).get("st2_context") or {}
    return {"st2_execution_id": st2_id, "st2_context": st2_ctx}


def plan(job: Job) -> Optional[Push]:
    """What to PUT for `job`, read from Mistral's DB (call inside a transaction); None = nothing."""
    from mistral.db.v2 import api as db_api

    if job.event.startswith("TASK_"):
        wf_ex = db_api.get_workflow_execution(job.data["workflow_execution_id"])
        root = (db_api.get_workflow_execution(wf_ex.root_execution_id)
                if wf_ex.root_execution_id else wf_ex)
        if root.state not in _SETTLING_STATES:
            return None
        return _status_push(root)
    if job.data.get("root_execution_id"):
        return _subworkflow_push(job, db_api)
    return _status_push(db_api.get_workflow_execution(job.ex_id))


def _status_push(root: Any) -> Optional[Push]:
    facts = _st2_facts(root)
    if facts is None:
        return None
    status, result = reporting.report(root)
    return Push(facts["st2_execution_id"], facts["st2_context"],
                {"status": status, "result": result})


def _subworkflow_push(job: Job, db_api: Any) -> Optional[Push]:
    """A subworkflow that pauses while its root runs asks StackStorm to pause the root."""
    if job.event != WORKFLOW_PAUSED or not config.get("cascade_subworkflow_pause"):
        return None
    root = db_api.get_workflow_execution(job.data["root_execution_id"])
    facts = _st2_facts(root)
    if facts is None or root.state != statuses.RUNNING:
        return None
    LOG.info("Subworkflow %s paused while root %s runs; asking StackStorm to pause %s",
             job.ex_id, root.id, facts["st2_execution_id"])
    return Push(facts["st2_execution_id"], facts["st2_context"],
                {"status": "pausing"})


def send(push: Push) -> bool:
    """PUT the push to StackStorm (retried); False when StackStorm refused it."""
    url = "%s/executions/%s" % (st2_api.api_url(push.st2_context), push.st2_execution_id)
    resp = st2_api.request("PUT", url, headers=st2_api.auth_headers(push.st2_context),
                           json_body=push.body)
    if resp.status_code >= 300:
        LOG.warning("StackStorm refused status %s for execution %s: HTTP %s",
                    push.body.get("status"), push.st2_execution_id, resp.status_code)
        return False
    return True


class _Lane:
    """A daemon thread running `handle(job)` for its queued jobs, one at a time, in order."""

    def __init__(self, name: str, handle: Callable[[Job], None]) -> None:
        self._name = name
        self._handle = handle
        self._queue: "queue.Queue[Job]" = queue.Queue()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
        self._queue.put(job)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                self._handle(job)
            except Exception:  # noqa: BLE001 - a bad event must never kill the lane
                LOG.exception("st2 publisher: failed to process %s event for %s",
                              job.event, job.ex_id)
            finally:
                self._queue.task_done()

    def join(self) -> None:
        self._queue.join()


def root_key(job: Job) -> str:
    """The root workflow execution a job is about (read from the DB for task events)."""
    from mistral.db.v2 import api as db_api

    if job.event.startswith("TASK_"):
        wf_ex = db_api.get_workflow_execution(job.data["workflow_execution_id"])
        return wf_ex.root_execution_id or wf_ex.id
    return job.data.get("root_execution_id") or job.ex_id


class Dispatcher:
    """Routes each job to the lane of its root execution, then plans and sends its push.

    Pushes about one root never overtake each other; a slow or failing StackStorm answer for
    one root only holds up the roots sharing its lane.
    """

    def __init__(self, lanes: int) -> None:
        self._router = _Lane("st2-publisher-router", self._route)
        self._lanes = [_Lane("st2-publisher-%d" % i, self.process) for i in range(max(1, lanes))]
        self._last: "OrderedDict[str, str]" = OrderedDict()
        self._last_lock = threading.Lock()

    def submit(self, job: Job) -> None:
        self._router.submit(job)

    def join(self) -> None:
        """Wait until every submitted job is processed (tests, shutdown)."""
        self._router.join()
        for lane in self._lanes:
            lane.join()

    def _route(self, job: Job) -> None:
        try:
            key = _in_db(job, root_key)
        except Exception as exc:  # noqa: BLE001 - unknown root: the job's own id still orders it
            LOG.warning("st2 publisher: cannot find the root of %s (%s)", job.ex_id,
                        type(exc).__name__)
            key = job.ex_id
        self._lanes[zlib.crc32(str(key).encode()) % len(self._lanes)].submit(job)

    def process(self, job: Job) -> None:
        try:
            push = _in_db(job, plan)
            if push is None or self._unchanged(push):
                return
            if send(push):
                self._remember(push)
                if statuses.is_completed(str(push.body.get("status"))) and config.get("scrub_credentials"):
                    _scrub(job)
        except St2MistralError as exc:
            LOG.error("st2 publisher: %s event for %s not delivered: %s", job.event, job.ex_id, exc)

    def _remember(self, push: Push) -> None:
        with self._last_lock:
            self._last[push.st2_execution_id] = _digest(push.body)
            self._last.move_to_end(push.st2_execution_id)
            while len(self._last) > _MAX_REMEMBERED:
                self._last.popitem(last=False)

    def _unchanged(self, push: Push) -> bool:
        with self._last_lock:
            return self._last.get(push.st2_execution_id) == _digest(push.body)


def _in_db(job: Job, func: Callable[[Job], Any]) -> Any:
    """Run `func(job)` in a read-only Mistral DB transaction under the event's security context."""
    from mistral import context as auth_ctx
    from mistral.db.v2 import api as db_api

    auth_ctx.set_ctx(job.ctx)
    try:
        with db_api.transaction(read_only=True):
            return func(job)
    finally:
        auth_ctx.set_ctx(None)


def _scrub(job: Job) -> None:
    """Delete the credentials of the job's finished root from Mistral's DB (its own transaction)."""
    from mistral import context as auth_ctx
    from mistral.db.v2 import api as db_api

    auth_ctx.set_ctx(job.ctx)
    try:
        with db_api.transaction():
            root = root_key(job)
            changed = scrub.scrub_tree(root)
        if changed:
            LOG.info("st2 publisher: credentials removed from %d records of finished workflow %s",
                     changed, root)
    except Exception as exc:  # noqa: BLE001 - the push went through; a failed clean-up is only logged
        LOG.warning("st2 publisher: credentials of %s not removed (%s)", job.ex_id, type(exc).__name__)
    finally:
        auth_ctx.set_ctx(None)


def _digest(body: Dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


_DISPATCHER: Optional[Dispatcher] = None
_DISPATCHER_LOCK = threading.Lock()


def dispatcher() -> Dispatcher:
    """The process-wide dispatcher, created on first use ([st2] push_lanes lanes)."""
    global _DISPATCHER
    with _DISPATCHER_LOCK:
        if _DISPATCHER is None:
            _DISPATCHER = Dispatcher(config.get("push_lanes"))
        return _DISPATCHER


class St2Publisher(base.NotificationPublisher):
    """Entry point `st2` of `mistral.notification.publishers`; never blocks the engine."""

    def publish(self, ctx: Any, ex_id: str, data: Dict[str, Any], event: str, timestamp: Any,
                **kwargs: Any) -> None:
        masking.install_log_filter()
        dispatcher().submit(Job(ctx, ex_id, dict(data), event))
