"""MistralResultsQuerier: status and result of many workflow executions in a constant number of calls."""
from __future__ import annotations

import datetime
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from mistral_v2 import config, results, seam, statuses
from mistral_v2.exceptions import MistralUnreachableError, WorkflowNotFoundError  # noqa: F401 (re-exported)
from mistral_v2.mistral_api import MistralAPI

LOG = logging.getLogger(__name__)

QueryResult = Tuple[str, Dict[str, Any]]


def description_for(st2_execution_id: str) -> str:
    """The Mistral execution description that ties it to a StackStorm execution."""
    return "st2:%s" % st2_execution_id


class UnreachableTracker:
    """Remembers since when each Mistral URL has been unreachable (shared by all queriers)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._since: Dict[str, float] = {}
        self._lock = threading.Lock()

    def failed(self, url: str, at: Optional[float] = None) -> float:
        """Since when `url` is unreachable; `at` (default now) is when this failure began."""
        with self._lock:
            return self._since.setdefault(url, self.clock() if at is None else at)

    def succeeded(self, url: str) -> None:
        with self._lock:
            self._since.pop(url, None)


TRACKER = UnreachableTracker()

# Task states after which a with-items task's ordered result no longer changes.
_ITEM_RESULTS_KEPT = 5000


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class MistralResultsQuerier:
    """What the reconciler runs: `query_many` each cycle, `query` for one execution."""

    def __init__(self, api: Optional[MistralAPI] = None, conf: Any = None,
                 tracker: Optional[UnreachableTracker] = None) -> None:
        self.opts = conf if conf is not None else config.get()
        self.api = api or MistralAPI(conf=self.opts)
        self.tracker = tracker or TRACKER
        self._item_results: "OrderedDict[Tuple[str, str], Any]" = OrderedDict()

    def query(self, execution_id: str, query_context: Dict[str, Any]) -> QueryResult:
        """(status, result) of one StackStorm execution; see query_many for the error contract."""
        return self.query_many([(execution_id, query_context)])[execution_id]

    def query_many(self, items: List[Tuple[str, Dict[str, Any]]]) -> Dict[str, QueryResult]:
        """{st2 execution id: (status, result)} for every (st2 id, query_context) in `items`.

        Raises MistralUnreachableError while Mistral is unreachable for less than
        `[mistral] unreachable_grace_period` (the caller keeps the current status); afterwards
        every execution is reported failed with "Mistral unreachable since <iso time>".
        """
        if not items:
            return {}
        began = self.tracker.clock()
        try:
            answer = self._query(items)
        except MistralUnreachableError as exc:
            # The outage began before the call's retries (up to retry_stop_max_msec) ran out.
            since = self.tracker.failed(self.api.url, at=began)
            if self.tracker.clock() - since < self.opts.unreachable_grace_period:
                raise
            iso = datetime.datetime.fromtimestamp(since, datetime.timezone.utc).isoformat()
            message = "Mistral unreachable since %s: %s" % (iso, exc)
            return {st2_id: (seam.LIVEACTION_STATUS_FAILED, {"error": message, "tasks": []})
                    for st2_id, _ in items}
        self.tracker.succeeded(self.api.url)
        return answer

    # -- the batched listing -------------------------------------------------------------------

    def _roots(self, items: List[Tuple[str, Dict[str, Any]]]) -> Dict[str, Dict[str, Any]]:
        """{mistral execution id: execution} for the items' root executions."""
        wanted = {str(ctx["execution_id"]) for _, ctx in items if ctx.get("execution_id")}
        descriptions = sorted({str(ctx.get("description") or description_for(st2_id)) for st2_id, ctx in items})
        found: Dict[str, Dict[str, Any]] = {}
        for chunk in _chunks(descriptions, self.opts.query_batch_size):
            for ex in self.api.find_executions_by_description(chunk):
                if ex.get("id") in wanted:
                    found[ex["id"]] = ex
        for ex_id in sorted(wanted - set(found)):  # started without our description, or deleted
            try:
                found[ex_id] = self.api.get_execution(ex_id)
            except WorkflowNotFoundError:
                pass
        return found

    def _query(self, items: List[Tuple[str, Dict[str, Any]]]) -> Dict[str, QueryResult]:
        roots = self._roots(items)
        subs: List[Dict[str, Any]] = []
        tasks: List[Dict[str, Any]] = []
        action_exs: List[Dict[str, Any]] = []
        if roots:
            since = min(ex.get("created_at") or "" for ex in roots.values())
            subs = [e for e in self.api.list_subexecutions(since) if e.get("root_execution_id") in roots]
            ex_ids = set(roots) | {e["id"] for e in subs}
            names = {str(e["workflow_name"]) for e in list(roots.values()) + subs if e.get("workflow_name")}
            tasks = [t for t in self.api.list_tasks_of_workflows(names, since)
                     if t.get("workflow_execution_id") in ex_ids]
            task_ids = {t["id"] for t in tasks}
            action_exs = [a for a in self.api.list_action_executions_of_workflows(names, since)
                          if a.get("task_execution_id") in task_ids]
        root_of = {ex_id: ex_id for ex_id in roots}
        root_of.update({e["id"]: e.get("root_execution_id") for e in subs})
        # root execution id -> (its tasks, their action executions, its sub-workflow executions)
        grouped: Dict[str, Tuple[list, list, list]] = {ex_id: ([], [], []) for ex_id in roots}
        for t in tasks:
            grouped[root_of[t["workflow_execution_id"]]][0].append(t)
        task_root = {t["id"]: root_of[t["workflow_execution_id"]] for t in tasks}
        for a in action_exs:
            grouped[task_root[a["task_execution_id"]]][1].append(a)
        for e in subs:
            grouped[e["root_execution_id"]][2].append(e)

        answer: Dict[str, QueryResult] = {}
        for st2_id, ctx in items:
            ex_id = ctx.get("execution_id")
            if not ex_id:
                answer[st2_id] = (seam.LIVEACTION_STATUS_FAILED, {
                    "error": "Execution %s has no Mistral execution id in its context." % st2_id,
                    "tasks": []})
            elif ex_id not in roots:
                answer[st2_id] = (seam.LIVEACTION_STATUS_FAILED, {
                    "error": "Mistral execution %s no longer exists (deleted outside StackStorm)." % ex_id,
                    "tasks": []})
            else:
                root_tasks, root_actions, root_subs = grouped[ex_id]
                entries = self._order_items(results.build_tasks(root_tasks, root_actions, root_subs),
                                            root_tasks)
                answer[st2_id] = results.summarize(roots[ex_id], entries, self.opts.max_result_size,
                                                   ctx.get("secret_parameters") or (),
                                                   result_format=getattr(self.opts, "result_format",
                                                                         results.FORMAT_ST2))
        return answer

    # -- with-items order -----------------------------------------------------------------------

    def _order_items(self, entries: List[Dict[str, Any]],
                     tasks: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Put finished with-items results (and inputs) in item order.

        Mistral's listings do not expose an action execution's item index, so only a task GET
        has the ordered result; it is fetched once per finished with-items task (cached by id
        and updated_at), keeping a poll cycle's calls constant in the number of executions.
        """
        with_items = {t["id"]: t for t in tasks if results._runtime_has_items(t)  # noqa: SLF001
                      and t.get("state") in statuses.MISTRAL_TERMINAL_STATES}
        for entry in entries:
            task = with_items.get(entry["id"])
            if task is None or not isinstance(entry.get("result"), list):
                continue
            ordered = self._ordered_result(task)
            if isinstance(ordered, list):
                reorder_items(entry, ordered)
        return entries

    def _ordered_result(self, task: Dict[str, Any]) -> Any:
        key = (task["id"], task.get("updated_at") or "")
        if key not in self._item_results:
            try:
                found = self.api.get_task(task["id"])
            except WorkflowNotFoundError:
                return None
            self._item_results[key] = results.parse_json(found.get("result"))
            while len(self._item_results) > _ITEM_RESULTS_KEPT:
                self._item_results.popitem(last=False)
        self._item_results.move_to_end(key)
        return self._item_results[key]


def reorder_items(entry: Dict[str, Any], ordered: List[Any]) -> None:
    """Set a with-items task entry's result to Mistral's `ordered` one and move its inputs along
    (each result is matched to an unused action execution with an equal result)."""
    old_results, old_inputs = entry["result"], entry.get("input")
    entry["result"] = ordered
    if not isinstance(old_inputs, list) or len(old_inputs) != len(old_results):
        return
    unused = list(range(len(old_results)))
    inputs = []
    for value in ordered:
        match = next((i for i in unused if old_results[i] == value), None)
        if match is None:
            return
        unused.remove(match)
        inputs.append(old_inputs[match])
    entry["input"] = inputs


def get_instance() -> MistralResultsQuerier:
    """Factory used by st2's querier loader convention."""
    return MistralResultsQuerier()
