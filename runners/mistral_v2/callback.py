"""Reports a finished StackStorm child execution to its Mistral action execution, at most once."""
from __future__ import annotations

import logging
import re
from typing import Any, Dict, Mapping, Optional, Tuple

from mistral_v2 import mistral_api, statuses
from mistral_v2.exceptions import St2MistralError
from mistral_v2.mistral_api import safe_url

LOG = logging.getLogger(__name__)

_URL_RE = re.compile(r"^(?P<base>.+)/action_executions/(?P<id>[^/?#]+)/?$")


def split_url(url: str) -> Tuple[str, str]:
    """(Mistral v2 base URL, action execution id) of a callback URL."""
    m = _URL_RE.match(url or "")
    if not m:
        raise St2MistralError(
            'Callback URL "%s" is not a Mistral action execution URL (<v2 url>/action_executions/<id>).'
            % safe_url(url or ""))
    return m.group("base"), m.group("id")


def action_execution_id(url: Optional[str]) -> Optional[str]:
    """The action execution id at the end of a callback URL, or None for any other URL."""
    m = _URL_RE.match(url or "")
    return m.group("id") if m else None


def child_action_execution_id(context: Optional[Mapping[str, Any]],
                              callback: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """The Mistral action execution a StackStorm child execution reports to: its
    context["mistral"]["action_execution_id"] (as `st2.action` posts it), else the id in its
    callback URL (".../action_executions/<id>")."""
    mctx = (context or {}).get("mistral") or {}
    if isinstance(mctx, Mapping) and mctx.get("action_execution_id"):
        return str(mctx["action_execution_id"])
    return action_execution_id((callback or {}).get("url"))


def error_text(result: Any) -> str:
    """The most telling error message inside a StackStorm result."""
    if isinstance(result, dict):
        for key in ("error", "stderr", "message"):
            if result.get(key):
                return str(result[key])
        if isinstance(result.get("result"), dict):
            return error_text(result["result"])
    return str(result) if result not in (None, "", {}) else "StackStorm action failed."


def build_output(status: str, result: Any) -> Any:
    """The `output` PUT to Mistral: the StackStorm result itself, so `task(x).result` in the
    workflow is exactly the child's result (as with StackStorm's original runner); a failure with
    an empty result sends its error text instead."""
    if statuses.ST2_TO_MISTRAL_ACTION_STATE.get(status) == statuses.ERROR and result in (None, "", {}, []):
        return error_text(result)
    return result


class MistralCallbackHandler:
    """st2's AsyncActionExecutionCallbackHandler shape: one classmethod, `callback`."""

    api_factory = staticmethod(lambda url: mistral_api.shared(url))  # one connection pool per Mistral URL

    @classmethod
    def callback(cls, url: str, context: Optional[Dict[str, Any]], status: str, result: Any) -> bool:
        """PUT the final state/output to `url` unless Mistral already has it; True if it was sent.

        Non-completed statuses are ignored (nothing to report yet).
        """
        state = statuses.ST2_TO_MISTRAL_ACTION_STATE.get(status)
        if state is None:
            LOG.debug("Callback for status %r ignored: not a completed status.", status)
            return False
        base, action_ex_id = split_url(url)
        api = cls.api_factory(url=base)
        # One PUT: Mistral itself refuses to complete an action execution twice (no GET first).
        if not api.complete_action_execution(action_ex_id, state, build_output(status, result)):
            LOG.info("Mistral action execution %s was already completed; not reported again.", action_ex_id)
            return False
        LOG.info("Reported %s (%s) to Mistral action execution %s.", status, state, action_ex_id)
        return True


def pause_task(url: str) -> bool:
    """Set the Mistral action execution of a callback URL PAUSED while it is RUNNING (a child
    that went `pending`, an Inquiry, under a pausing/paused workflow: Mistral then counts no
    running task there). True when it was set."""
    base, action_ex_id = split_url(url)
    api = MistralCallbackHandler.api_factory(url=base)
    if api.get_action_execution(action_ex_id).get("state") != statuses.RUNNING:
        return False
    api.update_action_execution(action_ex_id, statuses.PAUSED)
    LOG.info("Mistral action execution %s set PAUSED (its StackStorm execution is pending).", action_ex_id)
    return True


def get_instance() -> type:
    """Factory used by st2's callback loader convention."""
    return MistralCallbackHandler


__all__ = ["MistralCallbackHandler", "get_instance", "split_url", "build_output", "action_execution_id",
           "child_action_execution_id", "pause_task"]
