"""The action runner container: creates executions, drives runners exactly as st2 does, records outcomes."""
from __future__ import annotations

import concurrent.futures
import copy
import logging
import os
import threading
import time
import types
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from mistral_v2 import cascade, masking, statuses
from mistral_v2.exceptions import (
    InvalidOperationError,
    InvalidParametersError,
    St2MistralError,
)
from mistral_v2.statuses import St2
from st2mistral_local import builtin_runners, ids, live_params, params, rerun_request, transitions
from st2mistral_local.auth import Authenticator
from st2mistral_local.runners import ASYNC_RUNNERS, get_runner, runner_types
from st2mistral_local.store import Store

LOG = logging.getLogger(__name__)

# Runner types whose executions can be paused/resumed through the runner.
PAUSABLE_RUNNERS = frozenset({"mistral-v2"})


class NotFoundError(St2MistralError):
    """The execution or action does not exist (HTTP 404)."""


def public_action(action: Dict[str, Any]) -> Dict[str, Any]:
    """The action as the API shows it (internal keys dropped)."""
    return {k: v for k, v in action.items() if not k.startswith("_")}


def _ns(doc: Dict[str, Any]) -> types.SimpleNamespace:
    return types.SimpleNamespace(**copy.deepcopy(doc))


def _merge_context(old: Dict[str, Any], new: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A shallow update, as StackStorm's `liveaction_db.context.update(context)`: a key the
    runner returns replaces the stored one whole (the runner returns every key it keeps)."""
    merged = dict(old or {})
    merged.update(new or {})
    return merged


def _error_result(exc: BaseException) -> Dict[str, Any]:
    return {"error": str(exc) or type(exc).__name__, "error_type": type(exc).__name__}


class LocalSt2Executions:
    """mistral_v2.cascade.St2Executions served in-process by the container (no HTTP round trip)."""

    def __init__(self, container: "Container") -> None:
        self.container = container

    def get_execution(self, execution_id: str) -> Dict[str, Any]:
        from st2mistral_local import views

        return views.execution(self.container.store, self.container.get(execution_id))

    def list_children(self, execution_id: str) -> List[Dict[str, Any]]:
        from st2mistral_local import views

        docs, _ = self.container.store.list_executions(parent=execution_id, ascending=True)
        return [views.execution(self.container.store, d) for d in docs]

    def request_pause(self, execution_id: str) -> None:
        self.container.pause(execution_id)

    def request_resume(self, execution_id: str) -> None:
        self.container.resume(execution_id)

    def request_cancel(self, execution_id: str) -> None:
        self.container.cancel(execution_id)


class Container:
    """Creates, runs, pauses, resumes, cancels and re-runs executions; the one writer of statuses."""

    def __init__(self, store: Store, authenticator: Authenticator, workers: int = 8,
                 renderer: Optional[live_params.Renderer] = None) -> None:
        self.store = store
        self.auth = authenticator
        self.renderer = renderer  # Jinja (st2kv.*) in supplied parameters, as StackStorm's API
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="st2-runner")
        self._live: Dict[str, Any] = {}
        self._live_lock = threading.Lock()
        self._busy: Dict[str, int] = {}
        self._op_locks: Dict[str, Any] = {}
        self._op_done: Dict[str, float] = {}
        self._stopping = threading.Event()
        self._starting: Dict[str, int] = {}  # executions inside _run (their runner's start not recorded yet)
        self._started = threading.Condition(self._live_lock)
        self.on_completed: Callable[[Dict[str, Any]], None] = lambda doc: None
        # A child went pausing/paused: the sync engine cascades it up (st2mistral_local.sync).
        self.on_child_pausing: Callable[[Dict[str, Any]], Any] = lambda doc: None
        self.st2_executions = LocalSt2Executions(self)
        # Cascade-up requests run outside the request/runner that caused them.
        self.cascade_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="st2-cascade")

    def shutdown(self) -> None:
        """Stop accepting work and kill running shell commands (they end abandoned: a restarted
        host could not know their outcome anyway); workflows keep running in Mistral."""
        self._stopping.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.cascade_pool.shutdown(wait=False, cancel_futures=True)
        with self._live_lock:
            live = [r for r in self._live.values() if isinstance(r, builtin_runners.LocalShellCommandRunner)]
        for runner in live:
            runner.cancel()

    # ---- creation ------------------------------------------------------------------------
    def schema_for(self, action: Dict[str, Any]) -> Dict[str, Any]:
        """Merged runner + action parameter schema of an action."""
        runner = runner_types()[action["runner_type"]]
        return params.merge_schema(runner.get("runner_parameters") or {}, action.get("parameters") or {})

    def action_parameters(self, ref: str) -> Optional[Dict[str, Any]]:
        """Merged runner + action parameter metadata of a registered action, or None (the
        runner's `action_lookup`: tells StackStorm action refs apart in workflow definitions)."""
        action = self.store.get_action(ref)
        return self.schema_for(action) if action else None

    def create(self, body: Dict[str, Any], requester: str) -> Tuple[Dict[str, Any], bool]:
        """Validate and store a new execution, then schedule it. Returns (execution, created);
        created is False when a child with the same Mistral action execution exists already."""
        if not isinstance(body, dict):
            raise InvalidParametersError("The request body must be a JSON object.")
        ref = body.get("action")
        if not isinstance(ref, str) or not ref:
            raise InvalidParametersError('"action" (an action ref such as core.local) is required.')
        action = self.store.get_action(ref)
        if action is None:  # StackStorm answers POST /executions for an unknown action with 400
            raise InvalidParametersError('Action "%s" cannot be found.' % ref)
        if not action.get("enabled", True):
            raise InvalidOperationError('Action "%s" is disabled.' % ref)
        context = body.get("context") or {}
        if not isinstance(context, dict):
            raise InvalidParametersError('"context" must be an object.')
        supplied = body.get("parameters") or {}
        schema = self.schema_for(action)
        if self.renderer is not None and isinstance(supplied, dict):
            user = body.get("user") or context.get("user") or requester
            supplied = self.renderer.render(ref, schema, supplied, dict(context, user=user))
        params.finalize(ref, schema, supplied)  # raises with every problem listed
        parent_id = None
        parent_ctx = context.get("parent")
        if isinstance(parent_ctx, dict) and parent_ctx.get("execution_id"):
            parent_id = parent_ctx["execution_id"]
            if self.store.get_execution(parent_id) is None:
                raise InvalidParametersError('Parent execution "%s" does not exist.' % parent_id)
        callback = body.get("callback") or {}
        if not isinstance(callback, dict):
            raise InvalidParametersError('"callback" must be an object.')
        delay = body.get("delay") or 0
        if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
            raise InvalidParametersError('"delay" must be a non-negative integer of milliseconds.')
        notify = body.get("notify") or {}
        if not isinstance(notify, dict):
            raise InvalidParametersError('"notify" must be an object.')
        context = dict(context)  # a child re-run hint (no "ref") is resolved by the runner, as in StackStorm
        context["user"] = body.get("user") or context.get("user") or requester
        context.setdefault("pack", action["pack"])
        doc = self._new_doc(action, supplied, context, parent_id, callback, delay)
        # As StackStorm: the action's own notify settings win over the request's.
        doc["liveaction"]["notify"] = copy.deepcopy(action.get("notify") or notify)
        stored = self.store.insert_execution(doc)
        if stored["id"] != doc["id"]:
            LOG.info("execution for Mistral action execution %s exists already as %s",
                     context.get("mistral", {}).get("action_execution_id"), stored["id"])
            return stored, False
        LOG.info("execution %s of %s requested by %s", doc["id"], ref, requester)
        self.schedule(doc["id"], delay)
        return stored, True

    def _new_doc(self, action: Dict[str, Any], supplied: Dict[str, Any], context: Dict[str, Any],
                 parent: Optional[str], callback: Dict[str, Any], delay: int) -> Dict[str, Any]:
        ex_id = ids.new_id()
        now = ids.now_iso()
        runner = dict(runner_types()[action["runner_type"]])
        return {
            "id": ex_id,
            "action": public_action(action),
            "runner": runner,
            "liveaction": {"id": ex_id, "action": action["ref"], "parameters": supplied,
                           "callback": callback, "runner_info": {"hostname": "st2mistral-local", "pid": os.getpid()}},
            "status": St2.REQUESTED,
            "start_timestamp": now,
            "end_timestamp": None,
            "parameters": supplied,
            "context": context,
            "result": {},
            "parent": parent,
            "callback": callback,
            "callback_state": "pending" if callback.get("source") == "mistral_v2" else None,
            "delay": delay,
            "log": [{"timestamp": now, "status": St2.REQUESTED}],
        }

    def schedule(self, execution_id: str, delay_ms: int = 0) -> None:
        """Run the execution on a worker thread (after `delay_ms`)."""
        if delay_ms:
            timer = threading.Timer(delay_ms / 1000.0, lambda: self.pool.submit(self._run, execution_id))
            timer.daemon = True
            timer.start()
        else:
            self.pool.submit(self._run, execution_id)

    # ---- status updates -----------------------------------------------------------------
    def update(self, execution_id: str, status: str, result: Any = None, context: Optional[Dict[str, Any]] = None,
               only_from: Optional[Iterable[str]] = None, strict: bool = False,
               unless: Optional[Callable[[], bool]] = None) -> Tuple[Dict[str, Any], bool]:
        """Move an execution to `status` (and store result/context) when allowed.

        Returns (execution, changed). Not allowed changes are ignored, or raise
        InvalidOperationError when `strict`. A completed execution never changes. `unless` is
        asked inside the store transaction (atomically with the change): True leaves it unchanged.
        """
        changed = {"value": False, "status": False}
        allowed_from = set(only_from) if only_from is not None else None

        def mutate(doc: Dict[str, Any]) -> Optional[Dict[str, Any]]:
            current = doc["status"]
            if unless is not None and unless():
                return None
            if allowed_from is not None and current not in allowed_from:
                if strict:
                    raise InvalidOperationError('Execution %s is "%s".' % (execution_id, current))
                return None
            if not transitions.can_transition(current, status):
                if strict:
                    transitions.check_transition(current, status)
                LOG.info("execution %s: ignoring status change %s -> %s", execution_id, current, status)
                return None
            if current != status:
                doc["status"] = status
                doc["log"].append({"timestamp": ids.now_iso(), "status": status})
                changed["status"] = True
            if result:  # as StackStorm's update_liveaction_status: an empty result keeps the stored one
                doc["result"] = result
            if context:
                doc["context"] = _merge_context(doc.get("context") or {}, context)
            if statuses.is_completed(status) and not doc.get("end_timestamp"):
                doc["end_timestamp"] = ids.now_iso()
            changed["value"] = True
            return doc

        doc = self.store.update_execution(execution_id, mutate)
        if doc is None:
            raise NotFoundError('Execution "%s" cannot be found.' % execution_id)
        if changed["status"] and doc.get("parent") and doc["status"] in (St2.PAUSING, St2.PAUSED):
            try:
                self.cascade_pool.submit(self._child_pausing, copy.deepcopy(doc))
            except RuntimeError:  # shutting down
                LOG.info("host stopping: pause of %s not cascaded up", execution_id)
        if changed["value"] and statuses.is_completed(doc["status"]):
            LOG.info("execution %s completed: %s", execution_id, doc["status"])
            try:
                self.on_completed(doc)
            except Exception:  # a hook problem must not undo the stored outcome
                LOG.exception("completion hook failed for execution %s", execution_id)
        return doc, changed["value"]

    def _child_pausing(self, doc: Dict[str, Any]) -> None:
        try:
            self.on_child_pausing(doc)
        except Exception:  # never lose the cascade thread to a bug
            LOG.exception("cascading the pause of %s up failed", doc.get("id"))

    def settle_status(self, execution_id: str, status: str) -> str:
        """The status to store for a workflow: pausing/canceling while a child workflow is active."""
        if status not in (St2.PAUSED, St2.CANCELED):
            return status
        docs, _ = self.store.list_executions(parent=execution_id)
        return cascade.combine_status(status, [d["status"] for d in docs if cascade.is_workflow(d)])

    # ---- running -------------------------------------------------------------------------
    def build_runner(self, doc: Dict[str, Any], action: Dict[str, Any]) -> Any:
        """A runner object set up exactly as st2's container does (see docs/architecture.md)."""
        rtype = runner_types()[action["runner_type"]]
        schema = self.schema_for(action)
        final = params.finalize(action["ref"], schema, doc.get("parameters") or {})
        runner_params, action_params = params.split(rtype.get("runner_parameters") or {}, final)
        runner = get_runner(action["runner_type"])
        runner.runner_type = types.SimpleNamespace(name=rtype["name"], enabled=rtype.get("enabled", True))
        runner.runner_parameters = runner_params
        runner.action = types.SimpleNamespace(
            id=action["id"], pack=action["pack"], name=action["name"], ref=action["ref"],
            entry_point=action.get("entry_point", ""), parameters=action.get("parameters") or {},
            runner_type=action["runner_type"])
        runner.action_name = action["name"]
        runner.liveaction = types.SimpleNamespace(
            id=doc["id"], status=doc["status"], context=copy.deepcopy(doc.get("context") or {}),
            parameters=copy.deepcopy(doc.get("parameters") or {}), result=copy.deepcopy(doc.get("result") or {}),
            callback=copy.deepcopy(doc.get("callback") or {}), action=action["ref"],
            notify=copy.deepcopy((doc.get("liveaction") or {}).get("notify") or {}))
        runner.liveaction_id = runner.execution_id = doc["id"]
        runner.execution = _ns(doc)
        pack_dir = action.get("_pack_dir")
        runner.entry_point = (os.path.join(pack_dir, "actions", action["entry_point"])
                              if pack_dir and action.get("entry_point") else action.get("entry_point") or None)
        runner.libs_dir_path = os.path.join(pack_dir, "actions", "lib") if pack_dir else None
        context = copy.deepcopy(doc.get("context") or {})
        runner.context = context
        user = context.get("user") or "stanley"
        token = self.auth.issue_execution_token(user, doc["id"])
        masking.remember([token] + masking.secret_values(final, params.secret_names(schema)))
        runner.auth_token = types.SimpleNamespace(token=token, user=user)
        runner.st2_executions = self.st2_executions
        runner.action_lookup = self.action_parameters
        runner.raise_operation_errors = True  # the host answers pause/resume/cancel requests with them
        rerun = context.get("re-run") or {}
        original = self.store.get_execution(rerun["ref"]) if rerun.get("ref") else None
        runner.rerun_ex_ref = _ns(original) if original else None
        return runner, action_params

    def wait_started(self, execution_id: str, timeout: float) -> Dict[str, Any]:
        """The execution once its runner's start is recorded (run() returned, or it never ran:
        canceled, failed), or as it is after `timeout` seconds (e.g. a delayed execution)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._started:
                starting = execution_id in self._starting
            doc = self.get(execution_id)
            left = deadline - time.monotonic()
            if (not starting and doc["status"] not in (St2.REQUESTED, St2.SCHEDULED)) or left <= 0:
                return doc
            with self._started:  # woken when a start is recorded; polls for one not picked up yet
                self._started.wait(min(left, 0.05))

    def _run(self, execution_id: str, restart: bool = False) -> None:
        """Run the execution; `restart` retries the start of a `running` one (idempotent runners only)."""
        with self._started:
            self._starting[execution_id] = self._starting.get(execution_id, 0) + 1
        try:
            self._start(execution_id, restart)
        finally:
            with self._started:
                if self._starting.get(execution_id, 0) <= 1:
                    self._starting.pop(execution_id, None)
                else:
                    self._starting[execution_id] -= 1
                self._started.notify_all()

    def _start(self, execution_id: str, restart: bool) -> None:
        doc = self.store.get_execution(execution_id)
        wanted = (St2.RUNNING,) if restart else (St2.REQUESTED, St2.SCHEDULED)
        if doc is None or doc["status"] not in wanted:
            return
        try:
            if not restart:
                self.update(execution_id, St2.SCHEDULED, only_from=[St2.REQUESTED])
                doc, changed = self.update(execution_id, St2.RUNNING, only_from=[St2.SCHEDULED])
                if not changed:
                    return  # canceled meanwhile
            action = self.store.get_action(doc["action"]["ref"])
            if action is None:
                raise NotFoundError('Action "%s" is no longer registered.' % doc["action"]["ref"])
            runner, action_params = self.build_runner(doc, action)
            with self._live_lock:
                self._live[execution_id] = runner
            current = self.store.get_execution(execution_id) or {}
            late_cancel = self._stopping.is_set() or current.get("status") in (St2.CANCELING,
                                                                                St2.CANCELED)
            if late_cancel and isinstance(runner, builtin_runners.LocalShellCommandRunner):
                runner.cancel()  # canceled (or host stopping) between "running" and registration
            try:
                runner.pre_run()
                status, result, context = runner.run(action_params)
            finally:
                with self._live_lock:
                    self._live.pop(execution_id, None)
            if self._stopping.is_set() and status == St2.CANCELED:
                status = St2.ABANDONED
                result = dict(result or {}, error="The host stopped while this action was running.")
            self._record_run(execution_id, status, result if result is not None else {}, context or {})
        except Exception as exc:  # every runner failure ends as a failed execution, never a traceback
            if isinstance(exc, St2MistralError):
                LOG.warning("execution %s failed: %s", execution_id, exc)
            else:
                LOG.exception("execution %s failed unexpectedly", execution_id)
            try:
                self.update(execution_id, St2.FAILED, result=_error_result(exc))
            except St2MistralError:
                LOG.exception("cannot record failure of execution %s", execution_id)

    def _record_run(self, execution_id: str, status: str, result: Dict[str, Any], context: Dict[str, Any]) -> None:
        """Store what run() returned. A pause/cancel requested while run() was executing, or a push
        of the workflow's outcome, may have moved the execution on meanwhile: "running" then only
        confirms the start (it never undoes that status), and the returned context (the link to the
        Mistral execution) is kept in every case, as StackStorm's container merges it whatever the
        status (st2actions/container/base.py `_update_live_action_db`)."""
        doc, changed = self.update(execution_id, status, result=result, context=context,
                                   only_from=[St2.RUNNING] if status == St2.RUNNING else None)
        if changed or not context:
            return
        LOG.info("execution %s is %s when its runner returned %s: its context is stored, its status kept",
                 execution_id, doc["status"], status)

        def merge(current: Dict[str, Any]) -> Dict[str, Any]:
            current["context"] = _merge_context(current.get("context") or {}, context)
            return current

        self.store.update_execution(execution_id, merge)

    # ---- operations ----------------------------------------------------------------------
    def is_busy(self, execution_id: str, since: Optional[float] = None) -> bool:
        """True while a pause/resume/cancel of the execution is being applied, or when one
        finished after the monotonic time `since` (a query made before it is stale)."""
        with self._live_lock:
            if execution_id in self._busy:
                return True
            return since is not None and self._op_done.get(execution_id, float("-inf")) >= since

    def _mark_busy(self, execution_id: str, busy: bool) -> None:
        with self._live_lock:
            if busy:
                self._busy[execution_id] = self._busy.get(execution_id, 0) + 1
            else:
                self._op_done[execution_id] = time.monotonic()
                if self._busy.get(execution_id, 0) <= 1:
                    self._busy.pop(execution_id, None)
                else:
                    self._busy[execution_id] -= 1

    def get(self, execution_id: str) -> Dict[str, Any]:
        """The execution, or NotFoundError."""
        doc = self.store.get_execution(execution_id)
        if doc is None:
            raise NotFoundError('Execution "%s" cannot be found.' % execution_id)
        return doc

    def _runner_op(self, execution_id: str, op: str, transitional: str, allowed_from: Iterable[str]) -> Dict[str, Any]:
        doc = self.get(execution_id)
        previous = doc["status"]
        if not cascade.check_request(op, previous, execution_id):
            return doc  # StackStorm's no-op (e.g. pause of a paused execution)
        if doc["runner"]["name"] not in PAUSABLE_RUNNERS:
            raise InvalidOperationError('Runner "%s" of execution %s does not support %s.' % (
                doc["runner"]["name"], execution_id, op))
        with self._live_lock:
            op_lock = self._op_locks.setdefault(execution_id, threading.RLock())
        # One operation at a time per execution: a resume sent while the pause is still on its way
        # to Mistral would otherwise find it RUNNING, do nothing, and be overtaken by the pause.
        with op_lock:
            doc = self.get(execution_id)
            previous = doc["status"]
            if not cascade.check_request(op, previous, execution_id):
                return doc
            self._mark_busy(execution_id, True)
            try:
                return self._apply_runner_op(execution_id, op, transitional, allowed_from, previous)
            finally:
                self._mark_busy(execution_id, False)

    def _apply_runner_op(self, execution_id: str, op: str, transitional: str, allowed_from: Iterable[str],
                         previous: str) -> Dict[str, Any]:
        doc, _ = self.update(execution_id, transitional, only_from=allowed_from, strict=True)
        try:
            action = self.store.get_action(doc["action"]["ref"])
            if action is None:
                raise NotFoundError('Action "%s" is no longer registered.' % doc["action"]["ref"])
            runner, _ = self.build_runner(doc, action)
            status, result, context = getattr(runner, op)()
        except Exception as exc:
            LOG.warning("%s of execution %s failed: %s", op, execution_id, exc)
            self.update(execution_id, previous, only_from=[transitional])
            if isinstance(exc, St2MistralError):
                raise
            raise InvalidOperationError("%s of execution %s failed: %s" % (op, execution_id, exc)) from exc
        doc, _ = self.update(execution_id, status, result=result, context=context or {}, only_from=[transitional])
        return doc

    def pause(self, execution_id: str) -> Dict[str, Any]:
        """Ask the runner to pause a running execution."""
        return self._runner_op(execution_id, cascade.PAUSE, St2.PAUSING, [St2.RUNNING])

    def resume(self, execution_id: str) -> Dict[str, Any]:
        """Ask the runner to resume a paused (or pausing) execution."""
        return self._runner_op(execution_id, cascade.RESUME, St2.RESUMING,
                               [St2.PAUSED, St2.PAUSING])

    def cancel(self, execution_id: str) -> Dict[str, Any]:
        """Cancel: before it runs -> canceled; sync runner -> kill; workflow -> runner.cancel()."""
        doc = self.get(execution_id)
        status = doc["status"]
        if not cascade.check_request(cascade.CANCEL, status, execution_id):
            return doc  # already canceling
        if status in (St2.REQUESTED, St2.SCHEDULED):
            doc, changed = self.update(execution_id, St2.CANCELED,
                                       only_from=[St2.REQUESTED, St2.SCHEDULED])
            if changed:
                return doc
            status = doc["status"]
        if doc["runner"]["name"] in ASYNC_RUNNERS:
            return self._runner_op(execution_id, cascade.CANCEL, St2.CANCELING,
                                   [St2.RUNNING, St2.PAUSING, St2.PAUSED, St2.RESUMING])
        doc, _ = self.update(execution_id, St2.CANCELING, strict=True)
        with self._live_lock:
            runner = self._live.get(execution_id)
        if runner is not None:
            runner.cancel()  # run() returns canceled and records it
        else:
            doc, _ = self.update(execution_id, St2.CANCELED, only_from=[St2.CANCELING])
        return doc

    def rerun(self, execution_id: str, body: Dict[str, Any], requester: str) -> Dict[str, Any]:
        """A new execution re-running `execution_id` (from the start, or from `tasks`); the
        runner validates the tasks and fails the new execution with the reason (as StackStorm)."""
        original = self.get(execution_id)
        if not isinstance(body, dict):
            raise InvalidParametersError("The request body must be a JSON object.")
        options = rerun_request.rerun_options(execution_id, body, original["runner"]["name"] in ASYNC_RUNNERS)
        merged = dict(original.get("parameters") or {})
        merged.update(body.get("parameters") or {})
        context: Dict[str, Any] = {"re-run": options}
        for key in ("trace_context",):
            if key in (original.get("context") or {}):
                context[key] = original["context"][key]
        new_body = {"action": original["action"]["ref"], "parameters": merged, "context": context,
                    "user": body.get("user") or requester, "delay": body.get("delay") or 0}
        doc, _ = self.create(new_body, requester)
        return doc

    # ---- restart -------------------------------------------------------------------------
    def recover(self) -> Dict[str, int]:
        """After a restart: re-queue never-started executions, retry interrupted mistral-v2 starts,
        abandon interrupted synchronous ones; workflows with a Mistral execution are left to the
        reconciler."""
        counts = {"requeued": 0, "abandoned": 0, "tracked": 0, "restarted": 0}
        pending, _ = self.store.list_executions(statuses_not_in=sorted(St2.COMPLETED), ascending=True)
        for doc in pending:
            status = doc["status"]
            mistral_ctx = (doc.get("context") or {}).get("mistral") or {}
            if status in (St2.REQUESTED, St2.SCHEDULED):
                self.schedule(doc["id"])
                counts["requeued"] += 1
            elif doc["runner"]["name"] in ASYNC_RUNNERS and mistral_ctx.get("execution_id"):
                counts["tracked"] += 1
            elif doc["runner"]["name"] in PAUSABLE_RUNNERS and status == St2.RUNNING:
                # Stopped inside runner.run(): mistral-v2 starts are idempotent (the Mistral execution
                # id derives from ours), so retrying finds the execution Mistral may already have.
                self.pool.submit(self._run, doc["id"], True)
                counts["restarted"] += 1
            else:
                self.update(doc["id"], St2.ABANDONED, result=dict(doc.get("result") or {}, error=(
                    "The host stopped while this execution was %s; its outcome is unknown." % status)))
                counts["abandoned"] += 1
        return counts
