"""Runtime fix for Mistral 23's multi-task re-run race: re-run a batch of tasks in one transaction.

Race: every `PUT /v2/tasks/<id> {reset}` is its own engine transaction and Mistral moves a task
ERROR -> RUNNING only in a later job, so a re-run task that completes inside that window of the
next re-run ends the workflow ERROR for good. See docs/upstream-multi-task-rerun-race.md.
Fix: the runner records the batch in the ROOT execution's env under `__st2_rerun_batch`
(`{<workflow execution id>: {"primary": <task execution id>, "for": <env st2_execution_id>,
"tasks": [{"task_execution_id", "reset"}, ...]}}`) and re-runs only the primary task; this patch
of `Workflow.rerun` then re-runs every task of the batch in that same transaction (each task
RUNNING at once, one command list, one `_continue_workflow`) and deletes the entry, which tells
the runner the batch was handled.
Installed when Mistral imports this plugin; switch off with ST2MISTRAL_RERUN_BATCH_FIX=0
(checked on every call).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional

from st2mistral_plugin.deferred_patch import DeferredClassPatch

LOG = logging.getLogger(__name__)

TARGET_MODULE = "mistral.engine.workflows"
BATCH_KEY = "__st2_rerun_batch"
ENV_SWITCH = "ST2MISTRAL_RERUN_BATCH_FIX"
_PATCHED_ATTR = "_st2mistral_rerun_batch_fix"


def enabled() -> bool:
    """True unless ST2MISTRAL_RERUN_BATCH_FIX is 0/false/no/off."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def batch_entry(env: Any, wf_ex_id: str, task_ex_id: str) -> Optional[List[Dict[str, Any]]]:
    """The batch [{"task_execution_id", "reset"}] recorded for `wf_ex_id` when `task_ex_id` is its
    primary task, else None (no batch, someone else's entry, or a malformed one)."""
    batches = (env or {}).get(BATCH_KEY) if isinstance(env, dict) else None
    entry = batches.get(wf_ex_id) if isinstance(batches, dict) else None
    if not isinstance(entry, dict) or entry.get("primary") != task_ex_id:
        return None
    if entry.get("for") != env.get("st2_execution_id"):
        return None  # left behind by an earlier re-run (made while the fix was off)
    tasks = entry.get("tasks")
    if not isinstance(tasks, list):
        return None
    items = [{"task_execution_id": str(t["task_execution_id"]), "reset": bool(t.get("reset", True))}
             for t in tasks if isinstance(t, dict) and t.get("task_execution_id")]
    if task_ex_id not in {t["task_execution_id"] for t in items}:
        items.insert(0, {"task_execution_id": task_ex_id, "reset": True})
    return items


def without_entry(env: Dict[str, Any], wf_ex_id: str) -> Dict[str, Any]:
    """A copy of `env` whose batch map no longer has `wf_ex_id` (the key itself goes when empty)."""
    new_env = dict(env)
    batches = dict(new_env.get(BATCH_KEY) or {})
    batches.pop(wf_ex_id, None)
    if batches:
        new_env[BATCH_KEY] = batches
    else:
        new_env.pop(BATCH_KEY, None)
    return new_env


def _root_of(wf_ex: Any) -> Any:
    root_id = wf_ex.root_execution_id or wf_ex.id
    if root_id == wf_ex.id:
        return wf_ex
    from mistral.db.v2 import api as db_api

    return db_api.get_workflow_execution(root_id)


def _env_of(wf_ex: Any) -> Dict[str, Any]:
    env = (wf_ex.params or {}).get("env")
    return env if isinstance(env, dict) else {}


def _consume(root: Any, wf_ex_id: str) -> None:
    params = dict(root.params or {})
    params["env"] = without_entry(_env_of(root), wf_ex_id)
    root.params = params


def _batch_task_execs(wf: Any, items: List[Dict[str, Any]], primary: Any) -> List[Any]:
    """(task_ex, reset) for every batch task that belongs to this workflow and is still ERROR."""
    from mistral.db.v2 import api as db_api
    from mistral.workflow import states

    found = []
    for item in items:
        tid = item["task_execution_id"]
        task_ex = primary if tid == primary.id else db_api.load_task_execution(tid)
        if task_ex is None or task_ex.workflow_execution_id != wf.wf_ex.id:
            LOG.warning("st2mistral: re-run batch of %s: task %s is not in it; skipped", wf.wf_ex.id, tid)
            continue
        if task_ex is not primary and task_ex.state != states.ERROR:
            LOG.warning("st2mistral: re-run batch of %s: task %s is %s, not ERROR; skipped",
                        wf.wf_ex.id, tid, task_ex.state)
            continue
        found.append((task_ex, item["reset"]))
    return found


def _batch_rerun(wf: Any, task: Any, items: List[Dict[str, Any]], env: Any) -> None:
    """Workflow.rerun for several tasks at once: same steps, one command list."""
    from mistral.engine import task_handler
    from mistral.services import workflows as wf_service
    from mistral.workflow import base as wf_base
    from mistral.workflow import states

    wf_service.update_workflow_execution_env(wf.wf_ex, env)
    wf._recursive_rerun()
    wf_ctrl = wf_base.get_controller(wf.wf_ex)
    cmds: List[Any] = []
    for task_ex, reset in _batch_task_execs(wf, items, task.task_ex):
        new_cmds = wf_ctrl.rerun_tasks([task_ex], reset=reset)
        if new_cmds:
            engine_task = task if task_ex is task.task_ex else \
                task_handler.build_task_from_execution(wf.wf_spec, task_ex)
            engine_task.cleanup_runtime_context()
            # The heart of the fix: RUNNING now, in this transaction, not in each task's later
            # start_task job, so no batch task that finishes first sees another one still ERROR.
            engine_task.rerun = True
            engine_task.set_state(states.RUNNING, None, processed=False)
        cmds.extend(new_cmds)
    LOG.info("st2mistral: re-ran %d tasks of workflow execution %s in one batch",
             len(cmds), wf.wf_ex.id)
    wf._continue_workflow(cmds)


def patch_class(cls: Any) -> bool:
    """Wrap Workflow.rerun on `cls`; False if it was already patched."""
    if getattr(cls, _PATCHED_ATTR, False):
        return False
    orig_rerun = cls.rerun

    def rerun(self: Any, task: Any, reset: bool = True, skip: bool = False, env: Any = None) -> Any:
        if skip or not enabled() or self.wf_ex is None:
            return orig_rerun(self, task, reset=reset, skip=skip, env=env)
        root = _root_of(self.wf_ex)
        items = batch_entry(_env_of(root), self.wf_ex.id, task.task_ex.id)
        if items is None:
            return orig_rerun(self, task, reset=reset, skip=skip, env=env)
        _consume(root, self.wf_ex.id)
        return _batch_rerun(self, task, items, env)

    cls.rerun = rerun
    setattr(cls, _PATCHED_ATTR, True)
    LOG.info("st2mistral: multi-task re-run batch fix installed on %s.%s", cls.__module__, cls.__name__)
    return True


_PATCH = DeferredClassPatch(TARGET_MODULE, "Workflow", patch_class)


def install() -> str:
    """Patch Workflow now if its module is loaded, else as soon as it is.

    Returns "patched", "already" or "deferred".
    """
    return _PATCH.install()
