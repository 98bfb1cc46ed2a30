"""Builds the Mistral env that carries the StackStorm context into every workflow execution."""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

# Keys of liveaction.context that are runner bookkeeping, not parent context for children.
_PRIVATE_KEYS = ("mistral", "re-run")


def _raw_jinja(value: Any) -> Any:
    """Wrap Jinja expressions in raw blocks so Mistral does not try to evaluate them."""
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return "{%% raw %%}%s{%% endraw %%}" % value
    if isinstance(value, dict):
        return {k: _raw_jinja(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_raw_jinja(v) for v in value]
    return value


def parent_context(execution_id: str, liveaction_context: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """{execution_id, user, api_user, trigger_instance, rule, source_channel, ...} for children."""
    parent: Dict[str, Any] = {"execution_id": execution_id}
    for key, value in (liveaction_context or {}).items():
        if key not in _PRIVATE_KEYS:
            parent[key] = copy.deepcopy(value)
    parent["execution_id"] = execution_id
    chain = parent.get("chain")
    if isinstance(chain, dict):
        for attr in ("params", "parameters"):
            if isinstance(chain.get(attr), dict):
                chain[attr] = _raw_jinja(chain[attr])
    return parent


# Keys of an incoming context["mistral"] (posted by the parent's st2.action) that describe the
# PARENT workflow; a child workflow moves them under context["mistral"]["parent"].
_PARENT_WORKFLOW_KEYS = ("workflow_name", "workflow_execution_id", "root_execution_id")


def execution_mistral_context(incoming: Optional[Dict[str, Any]], own: Dict[str, Any]) -> Dict[str, Any]:
    """context["mistral"] of a mistral-v2 execution, as StackStorm's mistral_v2 runner built it.

    `own`: the execution's own facts (execution_id, workflow_name, ...). `incoming`: the
    execution's context["mistral"] before the start: for a child started by a parent's
    `st2.action`, the link to the parent (task_execution_id, task_name, action_execution_id,
    callback_url stay at the top and win over stale ones in `own`; the parent's workflow_name /
    workflow_execution_id move under "parent"). The whole dict is returned, so it survives a
    shallow context merge.
    """
    incoming = dict(incoming or {})
    if incoming.get("execution_id"):  # already this execution's own context (a retried start)
        return dict(incoming, **own)
    link = {k: copy.deepcopy(v) for k, v in incoming.items() if k not in _PARENT_WORKFLOW_KEYS}
    parent = {k: incoming[k] for k in _PARENT_WORKFLOW_KEYS if k in incoming}
    out = dict(own)
    out.update(link)
    if parent:
        out["parent"] = parent
    return out


def child_notify(notify: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The workflow's `notify` as its children get it: routes (and channels) that are None are
    dropped. st2api stores `routes: [None]` for an alias execution without a notification route
    (`st2 action-alias execute`, a chat command without one) and refuses that list on a child
    execution ("None is not of type 'string'")."""
    out = copy.deepcopy(notify or {})
    for section in out.values():
        if isinstance(section, dict):
            for key in ("routes", "channels"):
                if isinstance(section.get(key), list):
                    section[key] = [route for route in section[key] if route is not None]
    return out


def build_env(
    execution_id: str,
    liveaction_id: str,
    liveaction_context: Optional[Dict[str, Any]],
    api_url: str,
    public_api_url: Optional[str] = None,
    auth_token: Optional[str] = None,
    notify: Optional[Dict[str, Any]] = None,
    skip_notify_tasks: Optional[List[str]] = None,
    result_format: Optional[str] = None,
    secret_parameters: Optional[List[str]] = None,
) -> Dict[str, Any]:
    """The `env` passed to executions.create (see docs/architecture.md)."""
    api_url = api_url.rstrip("/")
    st2_context: Dict[str, Any] = {
        "api_url": api_url,
        "endpoint": api_url + "/actionexecutions",
        "parent": parent_context(execution_id, liveaction_context),
        "notify": child_notify(notify),
        "skip_notify_tasks": list(skip_notify_tasks or []),
    }
    if auth_token:
        st2_context["auth_token"] = auth_token
    if secret_parameters:  # names only: the plugin masks these inputs' values before pushing
        st2_context["secret_parameters"] = list(secret_parameters)
    env: Dict[str, Any] = {
        "st2_execution_id": execution_id,
        "st2_liveaction_id": liveaction_id,
        "st2_action_api_url": (public_api_url or api_url).rstrip("/"),
        "__actions": {"st2.action": {"st2_context": st2_context}},
    }
    if result_format:  # the plugin pushes results in the shape the runner's config asks for
        env["st2_result_format"] = result_format
    return env

