"""Facts about a task/workflow execution read from Mistral's DB (we run inside Mistral)."""
from __future__ import annotations

import logging
from typing import Any, Dict, Mapping, Optional

LOG = logging.getLogger(__name__)


def task_facts(task_execution_id: Optional[str]) -> Dict[str, Any]:
    """{"task_name", "root_execution_id"} of a task execution; {} when the DB cannot tell.

    Executors normally share Mistral's [database] config; if this one does not, the child's
    context simply lacks these two optional keys.
    """
    if not task_execution_id:
        return {}
    try:
        from mistral.db.v2 import api as db_api

        with db_api.transaction(read_only=True):
            task_ex = db_api.get_task_execution(task_execution_id)
            wf_ex = db_api.get_workflow_execution(task_ex.workflow_execution_id)
            return {
                "task_name": task_ex.name,
                "root_execution_id": wf_ex.root_execution_id or wf_ex.id,
            }
    except Exception as exc:  # noqa: BLE001 - optional enrichment must never fail the action
        LOG.warning("st2.action: cannot read task %s from Mistral's DB (%s)",
                    task_execution_id, type(exc).__name__)
        return {}


def st2_context_from_env(env: Any) -> Optional[Dict[str, Any]]:
    """env["__actions"]["st2.action"]["st2_context"] of a workflow env, or None (pure)."""
    if not isinstance(env, Mapping):
        return None
    actions = env.get("__actions")
    defaults = actions.get("st2.action") if isinstance(actions, Mapping) else None
    found = defaults.get("st2_context") if isinstance(defaults, Mapping) else None
    return dict(found) if isinstance(found, Mapping) else None


def root_st2_context(workflow_execution_id: Optional[str]) -> Optional[Dict[str, Any]]:
    """The st2_context in the env of the ROOT of this workflow execution (itself when it is a
    root), or None.

    Mistral 23 takes action defaults (`__actions`) from the task's own workflow execution env,
    keyed by the task's action name: workbook subworkflows are started without the root's env,
    and an ad-hoc action whose base is `st2.action` gets no defaults either, so `st2.action` then
    runs without st2_context; the root (started by the mistral-v2 runner) has it. None when no
    st2_context is found or Mistral's DB cannot tell.
    """
    if not workflow_execution_id:
        return None
    try:
        from mistral.db.v2 import api as db_api

        with db_api.transaction(read_only=True):
            wf_ex = db_api.get_workflow_execution(workflow_execution_id)
            root = wf_ex
            if wf_ex.root_execution_id and wf_ex.root_execution_id != wf_ex.id:
                root = db_api.get_workflow_execution(wf_ex.root_execution_id)
            return st2_context_from_env((root.params or {}).get("env"))
    except Exception as exc:  # noqa: BLE001 - the caller reports a clear ConfigurationError
        LOG.warning("st2.action: cannot read the root of workflow execution %s from Mistral's DB "
                    "(%s)", workflow_execution_id, type(exc).__name__)
        return None
