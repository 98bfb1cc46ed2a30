"""Per-execution Mistral queries: the reference the batched querier is compared with (tests, bench)."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from mistral_v2 import query, results, seam, statuses
from mistral_v2.exceptions import WorkflowNotFoundError
from mistral_v2.mistral_api import MistralAPI

QueryResult = Tuple[str, Dict[str, Any]]


def _order(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Mistral's listing order (created_at, id), which the batched listings return."""
    return sorted(records, key=lambda r: (r.get("created_at") or "", r.get("id") or ""))


def query_one(api: MistralAPI, st2_id: str, ctx: Dict[str, Any]) -> QueryResult:
    """(status, result) of one execution from per-execution calls only: GET the root, list its
    sub-workflow executions, the tasks of each execution and the action executions of each task
    (and GET each finished with-items task for its result in item order)."""
    ex_id = ctx.get("execution_id")
    try:
        root = api.get_execution(ex_id)
    except WorkflowNotFoundError:
        return (seam.LIVEACTION_STATUS_FAILED, {
            "error": "Mistral execution %s no longer exists (deleted outside StackStorm)." % ex_id,
            "tasks": []})
    subs = api.list_executions(root_execution_id=ex_id, include_output=True)
    tasks: List[Dict[str, Any]] = []
    for wf_ex in [root] + subs:
        tasks += api.list_tasks(wf_ex["id"])
    lister = api.client.action_executions.list
    action_exs: List[Dict[str, Any]] = []
    for task in tasks:
        action_exs += api._list_all("list action executions",  # noqa: SLF001 - same paging
                                    lambda tid=task["id"], **kw: lister(tid, **kw), include_output=True)
    entries = results.build_tasks(_order(tasks), _order(action_exs), _order(subs))
    for entry, task in zip(entries, _order(tasks)):  # both in (created_at, id) order
        if task["id"] == entry["id"] and results._runtime_has_items(task) \
                and task.get("state") in statuses.MISTRAL_TERMINAL_STATES:
            ordered = results.parse_json(api.get_task(task["id"]).get("result"))
            if isinstance(ordered, list) and isinstance(entry.get("result"), list):
                query.reorder_items(entry, ordered)
    return results.summarize(root, entries, api.opts.max_result_size,
                             ctx.get("secret_parameters") or ())


def query_each(api: MistralAPI, items: List[Tuple[str, Dict[str, Any]]]) -> Dict[str, QueryResult]:
    """{st2 id: (status, result)} by `query_one` for every item (O(executions x tasks) calls)."""
    return {st2_id: query_one(api, st2_id, ctx) for st2_id, ctx in items}


def old_st2_cycle(api: MistralAPI, items: List[Tuple[str, Dict[str, Any]]]) -> Dict[str, str]:
    """What StackStorm's old querier costs per cycle at best (its tasks unchanged since the last
    cycle, so no per-task GET): one GET of the execution plus one listing of its tasks."""
    client = api.client
    states: Dict[str, str] = {}
    for st2_id, ctx in items:
        ex = api.call("get execution", client.executions.get, ctx["execution_id"])
        task_states = [t.state for t in api.call("list tasks", client.tasks.list, ex.id)]
        states[st2_id] = results.st2_status({"state": ex.state}, [{"state": s} for s in task_states])
    return states
