"""Facts about a task/workflow execution read from Mistral's DB (we run inside Mistral)."""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

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
