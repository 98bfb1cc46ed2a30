"""The `st2.action` Mistral action: starts a StackStorm execution; StackStorm reports back later."""
from __future__ import annotations

import copy
import logging
from typing import Any, Dict, Mapping, Optional

from mistral_lib import actions

from mistral_v2 import masking
from mistral_v2.exceptions import ConfigurationError, InvalidParametersError, St2MistralError, describe
from st2mistral_plugin import config, mistral_info, st2_api

LOG = logging.getLogger(__name__)

CALLBACK_SOURCE = "mistral_v2"


def child_rerun(st2_context: Mapping[str, Any], task_execution_id: Optional[str],
                parent_execution_id: str) -> Optional[Dict[str, Any]]:
    """context["re-run"] asking StackStorm to re-run the old child workflow of this task, when the
    re-run of the parent left a hint for it (st2_context.rerun_children, see mistral_v2.rerun)
    for this very parent execution; None for a fresh child."""
    hints = st2_context.get("rerun_children") or {}
    hint = hints.get(task_execution_id) if isinstance(hints, dict) and task_execution_id else None
    if not isinstance(hint, dict) or not hint.get("tasks"):
        return None
    if hint.get("parent_execution_id") not in (None, parent_execution_id):
        return None  # left in the env by an earlier re-run (Mistral merges env updates)
    rerun: Dict[str, Any] = {
        "tasks": list(hint["tasks"]),
        "reset": list(hint.get("reset") or []),
        "mistral": {"action_execution_id": hint.get("action_execution_id"),
                    "execution_id": hint.get("mistral_execution_id")},
    }
    if hint.get("context"):
        rerun["context"] = copy.deepcopy(hint["context"])
    return rerun


def build_request(ref: str, parameters: Mapping[str, Any], timeout: Optional[float],
                  st2_context: Mapping[str, Any], execution: Any,
                  extra_facts: Mapping[str, Any], mistral_url: str) -> Dict[str, Any]:
    """Body of POST /executions for one child (pure: no I/O)."""
    parent = copy.deepcopy(dict(st2_context.get("parent") or {}))
    if not parent.get("execution_id"):
        raise ConfigurationError("st2.action: st2_context.parent.execution_id is missing from the "
                                 "workflow env; start the workflow through StackStorm")
    params = copy.deepcopy(dict(parameters))
    if timeout is not None and "timeout" not in params:
        params["timeout"] = timeout
    mistral_ctx = {
        "workflow_execution_id": execution.workflow_execution_id,
        "task_execution_id": execution.task_execution_id,
        "action_execution_id": execution.action_execution_id,
        "workflow_name": execution.workflow_name,
        "callback_url": getattr(execution, "callback_url", None)
        or "/v2/action_executions/%s" % execution.action_execution_id,
    }
    mistral_ctx.update({k: v for k, v in extra_facts.items() if v is not None})
    body: Dict[str, Any] = {
        "action": ref,
        "parameters": params,
        "context": {"parent": parent, "mistral": mistral_ctx},
        "callback": {
            "source": CALLBACK_SOURCE,
            "url": "%s/action_executions/%s" % (mistral_url, execution.action_execution_id),
        },
    }
    rerun = child_rerun(st2_context, execution.task_execution_id, parent["execution_id"])
    if rerun:
        body["context"]["re-run"] = rerun
    notify = st2_context.get("notify") or {}
    skip = set(st2_context.get("skip_notify_tasks") or [])
    if notify and mistral_ctx.get("task_name") not in skip:
        body["notify"] = copy.deepcopy(notify)
    return body


class St2Action(actions.Action):
    """Runs StackStorm action `ref` as a child of the workflow's StackStorm execution (async)."""

    def __init__(self, ref: str, parameters: Optional[Dict[str, Any]] = None,
                 timeout: Optional[float] = None,
                 st2_context: Optional[Dict[str, Any]] = None) -> None:
        super().__init__()
        self.ref = ref
        self.parameters = parameters if parameters is not None else {}
        self.timeout = timeout
        self.st2_context = st2_context

    def is_sync(self) -> bool:
        return False

    def __repr__(self) -> str:  # Mistral logs the action object; keep the token out of it
        return "St2Action(ref=%r)" % (self.ref,)

    def _validate(self) -> None:
        if not isinstance(self.ref, str) or "." not in self.ref.strip(".") or " " in self.ref:
            raise InvalidParametersError("st2.action: 'ref' must be a StackStorm action ref "
                                         "'<pack>.<action>', got %r" % (self.ref,))
        if not isinstance(self.parameters, dict):
            raise InvalidParametersError("st2.action: 'parameters' must be a dict, got %s"
                                         % type(self.parameters).__name__)
        if self.timeout is not None and (isinstance(self.timeout, bool)
                                         or not isinstance(self.timeout, (int, float))
                                         or self.timeout <= 0):
            raise InvalidParametersError("st2.action: 'timeout' must be a positive number, got %r"
                                         % (self.timeout,))
        if not isinstance(self.st2_context, dict):
            raise ConfigurationError("st2.action: the workflow env (and its root workflow "
                                     "execution's env) has no __actions['st2.action'].st2_context; "
                                     "start the workflow through StackStorm (mistral-v2 runner)")

    def run(self, context: Any) -> Any:
        """POST the child execution; None means "result arrives later via the Mistral API"."""
        masking.install_log_filter()
        try:
            if self.st2_context is None:  # a workbook subworkflow: Mistral did not pass the env
                self.st2_context = mistral_info.root_st2_context(
                    getattr(context.execution, "workflow_execution_id", None))
            self._validate()
            masking.remember(masking.context_credentials(self.st2_context))
            mistral_url = config.mistral_api_url()
            if not mistral_url:
                raise ConfigurationError("st2.action: set [st2] mistral_api_url (the Mistral API "
                                         "URL StackStorm calls back)")
            execution = context.execution
            body = build_request(self.ref, self.parameters, self.timeout, self.st2_context or {},
                                 execution, mistral_info.task_facts(execution.task_execution_id),
                                 mistral_url)
            url = "%s/executions" % st2_api.api_url(self.st2_context)
            resp = st2_api.request("POST", url, headers=st2_api.auth_headers(self.st2_context),
                                   json_body=body)
            child = st2_api.check(resp, "st2.action: starting %s" % self.ref)
            LOG.info("st2.action started %s as StackStorm execution %s for action execution %s",
                     self.ref, (child or {}).get("id"), execution.action_execution_id)
        except St2MistralError as exc:
            mask = masking.Masker((), masking.context_credentials(self.st2_context)
                                  + masking.known_values())
            LOG.warning("st2.action %s failed: %s", self.ref, mask.text(str(exc)))
            error = describe(exc)
            answer = getattr(exc, "response", None)
            if answer is not None:  # StackStorm answered: its response, as st2mistral reported it
                error.update(st2_api.response_facts(answer))
            return actions.Result(error=mask(error))
        return None
