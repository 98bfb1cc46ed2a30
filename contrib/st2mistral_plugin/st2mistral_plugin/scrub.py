"""Removes the StackStorm credentials of a finished workflow from Mistral's database.

Inside StackStorm the execution's token outlives the execution (st2actions keeps an async
runner's token until it expires), so the copies Mistral holds (the root env and each `st2.action`
input) are made useless by deleting them once StackStorm has the final status. A later re-run
puts the new execution's token into the env again.
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Dict

LOG = logging.getLogger(__name__)

CREDENTIAL_KEYS = ("auth_token", "api_key")


def without_credentials(st2_context: Any) -> Any:
    """A copy of an st2_context without its credentials (anything else unchanged)."""
    if not isinstance(st2_context, dict) or not any(k in st2_context for k in CREDENTIAL_KEYS):
        return st2_context
    return {k: v for k, v in st2_context.items() if k not in CREDENTIAL_KEYS}


def scrubbed_env(env: Any) -> Any:
    """A copy of a workflow env whose `__actions['st2.action'].st2_context` has no credentials."""
    ctx = (((env or {}).get("__actions") or {}).get("st2.action") or {}).get("st2_context") \
        if isinstance(env, dict) else None
    clean = without_credentials(ctx)
    if clean is ctx:
        return env
    out = copy.deepcopy(env)
    out["__actions"]["st2.action"]["st2_context"] = clean
    return out


def scrub_tree(root_id: str) -> int:
    """Delete the credentials from the root's env and every st2.action input of its tree (call in
    a writable DB transaction); returns how many records changed."""
    from mistral.db.v2 import api as db_api

    changed = 0
    root = db_api.get_workflow_execution(root_id)
    params: Dict[str, Any] = dict(root.params or {})
    env = scrubbed_env(params.get("env"))
    if env is not params.get("env"):
        params["env"] = env
        db_api.update_workflow_execution(root.id, {"params": params})
        changed += 1
    for wf_ex in [root] + list(db_api.get_workflow_executions(root_execution_id=root.id)):
        for task_ex in db_api.get_task_executions(workflow_execution_id=wf_ex.id):
            for action_ex in task_ex.action_executions:
                inputs = action_ex.input
                if isinstance(inputs, dict) and without_credentials(inputs.get("st2_context")) \
                        is not inputs.get("st2_context"):
                    clean = dict(inputs, st2_context=without_credentials(inputs["st2_context"]))
                    db_api.update_action_execution(action_ex.id, {"input": clean}, insecure=True)
                    changed += 1
    return changed
