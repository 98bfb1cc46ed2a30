"""What the st2 publisher pushes: StackStorm status and result of a root workflow, from Mistral's DB.

Records are converted to the shapes the Mistral v2 API returns, then handed to the runner's own
mistral_v2.results, so push and poll compute identical statuses and results.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Optional, Tuple

from mistral_v2 import masking, results

LOG = logging.getLogger(__name__)

# Keys of action inputs that carry secrets; never copied into a StackStorm result.
SECRET_INPUT_KEYS = frozenset({"st2_context"})


def _iso(value: Any) -> Optional[str]:
    return value.isoformat(" ") if value is not None else None


def _json(value: Any) -> Optional[str]:
    return json.dumps(value) if value is not None else None


def public_input(value: Any) -> Any:
    """An action input without the StackStorm context (it holds the auth token)."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in SECRET_INPUT_KEYS}
    return value


def execution_dict(wf_ex: Any) -> Dict[str, Any]:
    """A workflow execution DB model as the v2 API shows it (params without the env)."""
    params = {k: v for k, v in (wf_ex.params or {}).items() if k != "env"}
    return {
        "id": wf_ex.id,
        "workflow_name": wf_ex.workflow_name,
        "state": wf_ex.state,
        "state_info": wf_ex.state_info,
        "input": _json(wf_ex.input or {}),
        "output": _json(wf_ex.output or {}),
        "params": _json(params),
        "root_execution_id": wf_ex.root_execution_id,
        "task_execution_id": wf_ex.task_execution_id,
        "created_at": _iso(wf_ex.created_at),
        "updated_at": _iso(wf_ex.updated_at),
    }


def task_dict(task_ex: Any) -> Dict[str, Any]:
    """A task execution DB model as the v2 API shows it."""
    return {
        "id": task_ex.id,
        "name": task_ex.name,
        "type": task_ex.type,
        "workflow_name": task_ex.workflow_name,
        "workflow_execution_id": task_ex.workflow_execution_id,
        "state": task_ex.state,
        "state_info": task_ex.state_info,
        "runtime_context": _json(task_ex.runtime_context or {}),
        "published": _json(task_ex.published or {}),
        "created_at": _iso(task_ex.created_at),
        "updated_at": _iso(task_ex.updated_at),
    }


def action_dict(action_ex: Any) -> Dict[str, Any]:
    """An action execution DB model as the v2 API shows it (input without secrets)."""
    return {
        "id": action_ex.id,
        "name": action_ex.name,
        "task_execution_id": action_ex.task_execution_id,
        "state": action_ex.state,
        "state_info": action_ex.state_info,
        "accepted": action_ex.accepted,
        "input": _json(public_input(action_ex.input)),
        "output": _json(action_ex.output),
        "runtime_context": _json(action_ex.runtime_context or {}),
        "created_at": _iso(action_ex.created_at),
    }


def max_result_size() -> Optional[int]:
    """[mistral] max_result_size of the runner's config, if it can be registered here."""
    try:
        from mistral_v2 import config as runner_config

        return runner_config.get().max_result_size
    except Exception:  # noqa: BLE001 - an option clash must not stop pushes; results stay uncapped
        LOG.warning("st2 publisher: [mistral] max_result_size unavailable; results not capped")
        return None


def result_format(root: Any) -> str:
    """The result shape the runner that started `root` uses (env `st2_result_format`), else the
    `[mistral] result_format` of this config, else StackStorm's ("st2")."""
    env = (root.params or {}).get("env") or {}
    wanted = env.get("st2_result_format") if isinstance(env, dict) else None
    if wanted in results.RESULT_FORMATS:
        return wanted
    try:
        from mistral_v2 import config as runner_config

        return runner_config.get().result_format
    except Exception:  # noqa: BLE001 - an option clash must not stop pushes
        return results.FORMAT_ST2


def collect(root: Any) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """(execution, task entries) of `root` and its sub-workflows; call inside a DB transaction."""
    from mistral.db.v2 import api as db_api

    subs = list(db_api.get_workflow_executions(root_execution_id=root.id))
    tasks: List[Any] = []
    for wf_ex in [root] + subs:
        tasks.extend(db_api.get_task_executions(workflow_execution_id=wf_ex.id))
    actions = [a for t in tasks for a in t.action_executions]
    entries = results.build_tasks([task_dict(t) for t in tasks],
                                  [action_dict(a) for a in actions],
                                  [execution_dict(s) for s in subs])
    return execution_dict(root), entries


def st2_context(wf_ex: Any) -> Dict[str, Any]:
    """The StackStorm context the runner put in a workflow execution's env ({} if none)."""
    env = (wf_ex.params or {}).get("env") or {}
    ctx = ((env.get("__actions") or {}).get("st2.action") or {}).get("st2_context")
    return ctx if isinstance(ctx, dict) else {}


def masker(root: Any) -> masking.Masker:
    """The masker of a root workflow execution: its secret inputs (names from the runner, values
    from the input) and the credentials in its env."""
    ctx = st2_context(root)
    names = [n for n in ctx.get("secret_parameters") or [] if isinstance(n, str)]
    values = masking.secret_values(root.input if isinstance(root.input, dict) else {}, names,
                                   *masking.env_credentials((root.params or {}).get("env")))
    masking.remember(values)  # Mistral-side log lines never show them either
    return masking.Masker(names, values)


def report(root: Any) -> Tuple[str, Dict[str, Any]]:
    """(StackStorm status, result) of root workflow execution `root` (inside a DB transaction),
    with its secrets masked by key and by value before anything leaves Mistral."""
    execution, entries = collect(root)
    mask = masker(root)
    return results.summarize(execution, entries, max_result_size(), mask.names, mask.values,
                             result_format=result_format(root))

