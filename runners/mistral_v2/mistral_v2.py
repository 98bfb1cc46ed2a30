"""The mistral-v2 runner: start (or re-run), pause, resume and cancel Mistral workflow executions."""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import time
import types
import uuid
from typing import Any, Dict, Optional, Tuple

from mistral_v2 import (
    cascade,
    config,
    context,
    definitions,
    masking,
    rerun,
    resume_from_next,
    seam,
    statuses,
    task_paths,
)
from mistral_v2.exceptions import (
    ConfigurationError,
    InvalidOperationError,
    InvalidParametersError,
    St2MistralError,
    WorkflowNotFoundError,
    describe,
)
from mistral_v2.mistral_api import MistralAPI
from mistral_v2.mistral_api import shared as shared_api
from mistral_v2.query import description_for

LOG = logging.getLogger(__name__)

RUNNER_NAME = "mistral-v2"
NOTIFY_EVENTS = [
    "WORKFLOW_LAUNCHED", "WORKFLOW_SUCCEEDED", "WORKFLOW_FAILED", "WORKFLOW_CANCELLED",
    "WORKFLOW_PAUSED", "WORKFLOW_RESUMED",
    "TASK_LAUNCHED", "TASK_SUCCEEDED", "TASK_FAILED", "TASK_CANCELLED", "TASK_PAUSED", "TASK_RESUMED",
]

# An operation arriving while run() is still creating the Mistral execution waits this long for it.
START_GRACE_SECONDS = 10.0

# Namespace of the Mistral execution ids derived from StackStorm execution ids.
EXECUTION_ID_NAMESPACE = uuid.UUID("6f1e3c52-1d0a-4c8e-9a43-5b1f0d2a7c11")

def mistral_execution_id(st2_execution_id: str) -> str:
    """The Mistral execution id (a UUID) for a StackStorm execution id; same in, same out."""
    return str(uuid.uuid5(EXECUTION_ID_NAMESPACE, "st2:%s" % st2_execution_id))


class MistralRunner(seam.AsyncActionRunner):
    """StackStorm's mistral-v2 runner.

    Errors of a start/re-run come back as ("failed", {"error", "error_type"}, context), never
    as a bare traceback; pause/resume/cancel raise St2MistralError subclasses (the caller shows
    the message).  The host may set `action_lookup` (ref -> parameter metadata or None) to tell
    StackStorm action refs apart; inside StackStorm it defaults to st2's action database.
    """

    def __init__(self, runner_id: str) -> None:
        super().__init__(runner_id=runner_id)
        self.action_lookup: Optional[definitions.ActionLookup] = seam.get_st2_action_lookup()
        self._api: Optional[MistralAPI] = None
        # StackStorm API used to cascade pause/resume/cancel to child executions; the host injects
        # one (cascade.St2Executions); inside StackStorm it defaults to the REST API.
        self.st2_executions: Optional[cascade.St2Executions] = None
        # The host answers pause/resume/cancel requests itself and wants their errors raised.
        self.raise_operation_errors = False
        # Seconds an operation waits for the Mistral execution a still-running run() creates.
        self.start_grace = START_GRACE_SECONDS

    # -- helpers --------------------------------------------------------------------------------

    @property
    def api(self) -> MistralAPI:
        """The shared client (`[mistral] api_key` or no credentials), else one carrying this
        execution's own token (Mistral with `auth_type = st2` inside StackStorm)."""
        if self._api is None:
            self._api = self._api_for(self._auth_token())
        return self._api

    @api.setter
    def api(self, value: MistralAPI) -> None:
        self._api = value

    def _api_for(self, token: Optional[str]) -> MistralAPI:
        """The shared client when `[mistral] api_key` is set or no token, else one sending `token`."""
        if token and not getattr(self.opts, "api_key", None):
            return MistralAPI(conf=self.opts, auth_token=token)
        return shared_api()

    @property
    def opts(self) -> Any:
        return config.get()

    def _params(self) -> Dict[str, Any]:
        return self.runner_parameters or {}

    def _action_ref(self) -> str:
        ref = getattr(self.action, "ref", None)
        return ref or "%s.%s" % (self.action.pack, self.action.name)

    def _context(self) -> Dict[str, Any]:
        return copy.deepcopy(getattr(self.liveaction, "context", None) or self.context or {})

    def _mistral_context(self) -> Dict[str, Any]:
        ctx = getattr(self.liveaction, "context", None) or self.context or {}
        mctx = ctx.get("mistral") or {}
        if mctx.get("execution_id"):
            return mctx
        # StackStorm shows "running" before run() has returned the context: an operation may come
        # first. The Mistral execution is the one run() creates (derived id) or re-runs.
        rerun_ref = getattr(self, "rerun_ex_ref", None)
        expected = ((getattr(rerun_ref, "context", None) or {}).get("mistral") or {}).get("execution_id") \
            if (ctx.get("re-run") or {}).get("tasks") else mistral_execution_id(self.execution_id or "")
        deadline = time.monotonic() + self.start_grace
        while expected:
            try:
                self.api.get_execution(expected)
                return {"execution_id": expected}
            except St2MistralError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
        raise InvalidOperationError(
            "Execution %s has no Mistral workflow execution (it never started or failed to start)."
            % self.execution_id)

    def _auth_token(self) -> Optional[str]:
        token = self.auth_token
        return getattr(token, "token", token) if token else None

    def _api_urls(self) -> Tuple[str, str]:
        st2_api, st2_public = seam.get_st2_api_urls()
        api_url = config.st2_api_url(self.opts.api_url) or st2_api
        if not api_url:
            raise ConfigurationError(
                "[mistral] api_url is not set: Mistral needs the StackStorm API URL "
                "(e.g. http://127.0.0.1:9101) to report back.")
        return api_url, (st2_public or api_url)

    def _reverse_target(self) -> Optional[str]:
        """Task a reverse workflow runs up to: runner parameter `task_name` (StackStorm's name), or
        its alias `task`; both set to different tasks is refused."""
        name, alias = self._params().get("task_name"), self._params().get("task")
        if name and alias and name != alias:
            raise InvalidParametersError(
                'Runner parameters task_name="%s" and task="%s" disagree; task is an alias of '
                "task_name, set only task_name." % (name, alias))
        return name or alias or None

    def build_env(self) -> Dict[str, Any]:
        """The Mistral env of this StackStorm execution (context.build_env), for a start or a re-run."""
        api_url, public_url = self._api_urls()
        return context.build_env(
            execution_id=self.execution_id,
            liveaction_id=self.liveaction_id or self.execution_id,
            liveaction_context=getattr(self.liveaction, "context", None) or self.context,
            api_url=api_url,
            public_api_url=public_url,
            auth_token=self._auth_token(),
            notify=seam.notify_settings(getattr(self.liveaction, "notify", None)),
            skip_notify_tasks=self._params().get("skip_notify") or [],
            secret_parameters=masking.secret_names(getattr(self.action, "parameters", None)),
            result_format=getattr(self.opts, "result_format", None),
        )

    # -- run ---------------------------------------------------------------------------------------

    def run(self, action_parameters: Dict[str, Any]) -> seam.RunnerResult:
        """Start the workflow (or re-run tasks of the original); ("running", {}, ctx).

        The result is empty on purpose: StackStorm stores a non-empty result returned here over
        one the plugin may have pushed before run() returned (a fast workflow), never an empty one.
        """
        try:
            rerun_options = (self.context or {}).get("re-run") or {}
            if rerun_options.get("tasks") and self.rerun_ex_ref is None and not rerun_options.get("ref"):
                rerun_options = self._resolve_child_rerun(rerun_options)
            if self.rerun_ex_ref is not None and rerun_options.get("tasks"):
                return self.rerun_workflow(action_parameters, rerun_options)
            return self.start_workflow(action_parameters or {})
        except St2MistralError as exc:
            LOG.warning("mistral-v2 execution %s failed to start: %s", self.execution_id, exc)
            return seam.LIVEACTION_STATUS_FAILED, describe(exc), self._context()

    def _resolve_child_rerun(self, hint: Dict[str, Any]) -> Dict[str, Any]:
        """st2.action re-runs tasks of an earlier child workflow (a dotted re-run through a child
        StackStorm action): find that child through StackStorm's API and re-run it."""
        st2 = self._st2(self._auth_token())
        if st2 is None:
            raise InvalidOperationError("Cannot re-run tasks of a child workflow without the StackStorm API.")

        def get(execution_id: str) -> Optional[Dict[str, Any]]:
            try:
                return st2.get_execution(execution_id)
            except St2MistralError:
                return None

        parent_id = ((self.context or {}).get("parent") or {}).get("execution_id")
        options = rerun.child_rerun_options(hint, self._action_ref(), parent_id, get, st2.list_children)
        old = get(options["ref"]) or {}
        self.rerun_ex_ref = types.SimpleNamespace(id=options["ref"], context=old.get("context") or {})
        return options

    def rerun_workflow(self, action_parameters: Dict[str, Any], options: Dict[str, Any]) -> seam.RunnerResult:
        """Re-run tasks of the original Mistral execution (rerun.py), or resume after them from
        their next tasks (resume_from_next.py); ("running", {}, context).

        `options` is context["re-run"]: {"ref", "tasks", "reset"} plus ours: "no_reset",
        "context" (variable overrides for env()), "next" (resume from the tasks after the named
        failed ones) with "published" ({task: {var: value}}).  The original Mistral execution is
        reused: the returned context keeps its context["mistral"].
        """
        original_ctx = getattr(self.rerun_ex_ref, "context", None) or {}
        tasks = options.get("tasks") or []
        resolver = self._st2_child_resolver(getattr(self.rerun_ex_ref, "id", None) or options.get("ref"))
        if options.get("next"):
            resume_from_next.resume_from_next(self.api, original_ctx, tasks, options.get("published") or {},
                                              self.build_env(), overrides=options.get("context"),
                                              resolve_st2_child=resolver)
        else:
            # StackStorm's API leaves out an empty `reset` (st2client sends the tasks minus
            # --no-reset), so a missing `reset` means nothing was asked to be reset.
            rerun.rerun_tasks(self.api, original_ctx, tasks, options.get("reset"), self.build_env(),
                              no_reset=options.get("no_reset"), overrides=options.get("context"),
                              resolve_st2_child=resolver, unset_reset_means_none=True)
        ctx = copy.deepcopy(self.context or {})
        # the original's Mistral execution; a re-run child keeps its NEW link to the parent's task
        ctx["mistral"] = context.execution_mistral_context((self.context or {}).get("mistral"),
                                                           dict(original_ctx.get("mistral") or {}))
        return seam.LIVEACTION_STATUS_RUNNING, {}, ctx  # {}: StackStorm keeps a result pushed meanwhile

    def _st2_child_resolver(self, original_id: Optional[str]) -> Optional[task_paths.ResolveSt2Child]:
        """Finds the Mistral execution of a child StackStorm workflow below the original execution."""
        st2 = self._st2(self._auth_token())
        if st2 is None or not original_id:
            return None
        return task_paths.st2_child_resolver(st2.list_children, original_id)

    def start_workflow(self, action_parameters: Dict[str, Any]) -> seam.RunnerResult:
        action_ref = self._action_ref()
        meta = getattr(self.action, "parameters", None)
        if isinstance(meta, dict) and meta:
            definitions.check_parameters(action_ref, meta, action_parameters,
                                         'Parameters of "%s"' % action_ref)
        inputs = dict(self._params().get("context") or {})
        inputs.update(action_parameters)

        api = self.api
        prepared = self._prepare(action_ref)
        workflow_name = prepared.workflow_name if prepared else self._registered_workflow()
        if prepared:
            definitions.sync(api, prepared)

        execution = self._create(workflow_name, inputs, prepared)

        ctx = self._context()
        ctx["mistral"] = context.execution_mistral_context(ctx.get("mistral"), {
            "execution_id": execution["id"],
            "workflow_name": execution.get("workflow_name") or workflow_name,
            "workbook_name": prepared.workbook_name if prepared else None,
        })
        secret = masking.secret_names(meta)
        if secret:  # names only: the reconciler masks these keys in task inputs/published/output
            ctx["mistral"]["secret_parameters"] = secret
        return seam.LIVEACTION_STATUS_RUNNING, {}, ctx  # {}: StackStorm keeps a result pushed meanwhile

    def _prepare(self, action_ref: str) -> Optional[definitions.PreparedDefinition]:
        entry = self.entry_point
        if not entry or os.path.isdir(entry):
            return None
        return definitions.prepare(entry, action_ref, self._params().get("workflow"),
                                   lookup=self.action_lookup, mistral_actions=self.api.action_names)

    def _registered_workflow(self) -> str:
        name = self._params().get("workflow")
        if not name:
            raise ConfigurationError(
                'Action "%s" has no entry_point; set runner parameter workflow to the name of a '
                "workflow registered in Mistral." % self._action_ref())
        try:
            self.api.get_workflow(name)
        except WorkflowNotFoundError:
            raise WorkflowNotFoundError('Workflow "%s" is not registered in Mistral.' % name, 404) from None
        return name

    def _create(self, workflow_name: str, inputs: Dict[str, Any],
                prepared: Optional[definitions.PreparedDefinition]) -> Dict[str, Any]:
        """Create the Mistral execution whose id is derived from the StackStorm execution id, so
        a retried start (same st2 execution) gets the existing execution, never a second one."""
        description = description_for(self.execution_id)
        ex_id = mistral_execution_id(self.execution_id)
        params: Dict[str, Any] = {"env": self.build_env()}
        if not self.opts.enable_polling:
            params["notify"] = [{"type": "st2", "event_types": NOTIFY_EVENTS}]
        target = self._reverse_target()
        if target:
            params["task_name"] = target
        try:
            return self.api.create_execution(workflow_name, inputs, description, ex_id, **params)
        except WorkflowNotFoundError:
            if not prepared:
                raise
            # Deleted in Mistral behind our back since we last uploaded it: upload again, once.
            definitions.forget_upload(self.api, prepared.name)
            definitions.sync(self.api, prepared)
            return self.api.create_execution(workflow_name, inputs, description, ex_id, **params)

    # -- pause / resume / cancel ------------------------------------------------------------------------

    def _current(self) -> Tuple[Any, Any]:
        return getattr(self.liveaction, "result", None), self._context()

    def _st2(self, token: Optional[str]) -> Optional[cascade.St2Executions]:
        """The StackStorm API for child executions: the host's, else REST with `token`."""
        if self.st2_executions is None and seam.ST2COMMON_AVAILABLE:  # pragma: no cover
            api_url = config.st2_api_url(self.opts.api_url) or seam.get_st2_api_urls()[0]
            if api_url:
                return cascade.RestSt2Executions(api_url, auth_token=token)
        return self.st2_executions

    def _cascade(self, verb: str) -> str:
        """Apply pause/resume/cancel to the Mistral tree and child StackStorm workflows (cascade.py)."""
        ctx = getattr(self.liveaction, "context", None) or self.context
        callback = getattr(self.liveaction, "callback", None)
        token = self._auth_token()
        credential = (contextlib.nullcontext(token) if token
                      else seam.operation_token(self.get_user(), self.execution_id))
        with credential as st2_token:
            # StackStorm gives pause/resume/cancel no runner token: without `[mistral] api_key`,
            # Mistral (auth_type = st2) is called with the operation's own token, as StackStorm is.
            borrowed = self._api is None and not token
            if borrowed:
                self._api = self._api_for(st2_token)
            try:
                ex_id = self._mistral_context()["execution_id"]
                st2 = self._st2(st2_token)
                try:
                    if verb == cascade.CANCEL:
                        return cascade.cancel(self.api, st2, self.execution_id, ex_id, context=ctx,
                                              callback=callback)
                    operation = cascade.pause if verb == cascade.PAUSE else cascade.resume
                    return operation(self.api, st2, self.execution_id, ex_id, context=ctx, callback=callback)
                except InvalidOperationError as exc:
                    raise InvalidOperationError("Cannot %s execution %s: %s"
                                                % (verb, self.execution_id, exc)) from None
            finally:
                if borrowed:  # the operation token is deleted on exit: never keep a client carrying it
                    self._api = None

    def _operation(self, verb: str, unchanged: str) -> seam.RunnerResult:
        """Run the operation; errors raise when `raise_operation_errors` (the host answers the
        caller with them), else (StackStorm, which would fail the execution on a raising pause or
        leave it `canceling` for ever) come back in the result with the status Mistral reports."""
        try:
            return (self._cascade(verb),) + self._current()
        except St2MistralError as exc:
            if self.raise_operation_errors:
                raise
            LOG.warning("%s of execution %s failed: %s", verb, self.execution_id, exc)
            result, ctx = self._current()
            result = dict(result) if isinstance(result, dict) else {"result": result}
            result.update(describe(exc))
            if not (ctx.get("mistral") or {}).get("execution_id"):  # never started in Mistral
                return (seam.LIVEACTION_STATUS_CANCELED if verb == cascade.CANCEL else unchanged), result, ctx
            return self._status_in_mistral(unchanged), result, ctx

    def _status_in_mistral(self, fallback: str) -> str:
        try:
            state = self.api.get_execution(self._mistral_context()["execution_id"])["state"]
            return statuses.to_st2_status(state, [])
        except (St2MistralError, ValueError, KeyError):
            return fallback

    def pause(self) -> seam.RunnerResult:
        return self._operation(cascade.PAUSE, seam.LIVEACTION_STATUS_RUNNING)

    def resume(self) -> seam.RunnerResult:
        return self._operation(cascade.RESUME, seam.LIVEACTION_STATUS_PAUSED)

    def cancel(self) -> seam.RunnerResult:
        return self._operation(cascade.CANCEL, seam.LIVEACTION_STATUS_RUNNING)


def get_runner() -> MistralRunner:
    """A new runner instance (st2's runner loader calls this)."""
    return MistralRunner(str(uuid.uuid4()))


def get_metadata() -> Dict[str, Any]:
    """The mistral-v2 entry of runner.yaml: StackStorm's `register_runners` reads ONE dict per
    `st2common.runners.runner` entry point (as the runners shipped with StackStorm return)."""
    for entry in seam.get_runner_metadata("mistral_v2"):
        if entry.get("name") == RUNNER_NAME:
            return entry
    raise ConfigurationError("mistral_v2/runner.yaml has no runner named %s" % RUNNER_NAME)
