"""Task-path resolution: dotted task names through sub-workflows and child StackStorm workflows, and validation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from mistral_v2 import callback, statuses
from mistral_v2.exceptions import InvalidOperationError, RerunError

# action_execution_id of a Mistral `st2.action` call -> the Mistral execution id of the child
# StackStorm execution it started (when that child is itself a mistral-v2 workflow), else None.
ResolveSt2Child = Callable[[str], Optional[str]]


@dataclass(frozen=True)
class ResolvedTask:
    """One Mistral task execution a (possibly dotted) task name designates."""

    path: str                   # the name as the user gave it, e.g. "task1.subtask1"
    task: Dict[str, Any]        # the Mistral task execution (dict as the API returns it)
    execution: Dict[str, Any]   # the Mistral workflow execution that holds the task
    root_execution_id: str      # root of the Mistral execution tree whose env env() reads
    # Set when the path crossed into a child StackStorm workflow: the outermost `st2.action`
    # task that started it, that call's action execution id, and the path below that task.
    via: Optional["ResolvedTask"] = None
    via_action_execution_id: Optional[str] = None
    sub_path: str = ""

    @property
    def state(self) -> str:
        return self.task.get("state") or "UNKNOWN"

    @property
    def task_id(self) -> str:
        return self.task["id"]


def latest_tasks(tasks: Iterable[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """name -> the most recent task execution of that name, in first-seen order of names."""
    out: Dict[str, Dict[str, Any]] = {}
    for t in tasks:
        name = str(t.get("name"))
        prev = out.get(name)
        if prev is None or (t.get("created_at") or "") >= (prev.get("created_at") or ""):
            out[name] = t
    return out


# -- name resolution ------------------------------------------------------------------------------


def _children_of(api: Any, task: Dict[str, Any],
                 resolve_st2_child: Optional[ResolveSt2Child]) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """(child workflow executions of `task`, the st2.action action execution id if they are
    the Mistral execution of a child StackStorm workflow, i.e. roots of their own tree)."""
    subs = api.list_executions(task=task["id"])
    if subs:
        return subs, None
    if resolve_st2_child is None:
        return [], None
    for action_ex in reversed(api.list_task_action_executions(task["id"])):
        mistral_id = resolve_st2_child(action_ex["id"])
        if mistral_id:
            return [api.get_execution(mistral_id)], action_ex["id"]
    return [], None


def resolve_task(api: Any, root: Dict[str, Any], path: str,
                 resolve_st2_child: Optional[ResolveSt2Child] = None) -> Tuple[List[ResolvedTask], Optional[str]]:
    """Resolve `path` ("t", "t.sub", "a.b.c") from the workflow execution `root`.

    Returns (resolved task executions, None) or ([], problem) where problem describes why the
    name designates nothing.  A dotted segment descends into the sub-workflow executions the task
    started, or (through `resolve_st2_child`) into the Mistral execution of a child StackStorm
    execution the task's `st2.action` started.
    """
    segments = [s for s in path.split(".")]
    if not path or any(not s for s in segments):
        return [], "task name %r is malformed" % path
    # (execution, its root id, the st2 crossing above it: (st2.action task, action ex id, depth))
    level: List[Tuple[Dict[str, Any], str, Optional[Tuple[ResolvedTask, str, int]]]] = [(root, root["id"], None)]
    walked: List[str] = []
    for depth, seg in enumerate(segments):
        candidates: List[Tuple[ResolvedTask, Optional[Tuple[ResolvedTask, str, int]]]] = []
        names: List[str] = []
        for ex, root_id, crossing in level:
            tasks = latest_tasks(api.list_tasks(ex["id"]))
            names.extend(n for n in tasks if n not in names)
            if seg in tasks:
                candidates.append((ResolvedTask(".".join(walked + [seg]), tasks[seg], ex, root_id), crossing))
        if not candidates:
            where = "at this level" if not walked else "in %s" % ".".join(walked)
            return [], "task %r does not exist (tasks %s: %s)" % (
                ".".join(walked + [seg]), where, ", ".join(sorted(names)) or "none")
        if depth == len(segments) - 1:
            errored = [c for c in candidates if c[0].state == statuses.ERROR]
            chosen = errored or candidates[-1:]
            return [ResolvedTask(path, c.task, c.execution, c.root_execution_id,
                                 via=x[0] if x else None, via_action_execution_id=x[1] if x else None,
                                 sub_path=".".join(segments[x[2]:]) if x else "")
                    for c, x in chosen], None
        walked.append(seg)
        next_level: List[Tuple[Dict[str, Any], str, Optional[Tuple[ResolvedTask, str, int]]]] = []
        for c, crossing in candidates:
            children, st2_action_ex = _children_of(api, c.task, resolve_st2_child)
            for child in children:
                if st2_action_ex and crossing is None:
                    next_level.append((child, child["id"], (c, st2_action_ex, depth + 1)))
                else:
                    next_level.append((child, child["id"] if st2_action_ex else c.root_execution_id, crossing))
        if not next_level:
            return [], "task %r started no sub-workflow, so %r does not exist" % (".".join(walked), path)
        level = next_level
    return [], "task name %r is malformed" % path  # pragma: no cover - loop always returns


def _st2_child_link(child: Dict[str, Any]) -> Tuple[Optional[str], Optional[str]]:
    """(st2.action action execution id that started `child`, child's own Mistral execution id)."""
    mctx = (child.get("context") or {}).get("mistral") or {}
    return callback.child_action_execution_id(child.get("context"), child.get("callback")), mctx.get("execution_id")


def st2_child_resolver(list_children: Callable[[str], Iterable[Dict[str, Any]]],
                       st2_execution_id: str) -> ResolveSt2Child:
    """A ResolveSt2Child over StackStorm executions (GET /api/v1/executions?parent=<id>).

    Children of `st2_execution_id` (then their children, lazily, level by level) are matched to
    the st2.action call that started them by their callback URL (.../action_executions/<id>);
    the answer is the child's own `context.mistral.execution_id` (a mistral-v2 workflow) or None.
    """
    index: Dict[str, Optional[str]] = {}
    pending: List[str] = [st2_execution_id]
    seen: set = set()

    def resolve(action_execution_id: str) -> Optional[str]:
        while action_execution_id not in index and pending:
            parent = pending.pop(0)
            if parent in seen:
                continue
            seen.add(parent)
            for child in list_children(parent) or []:
                ae_id, mistral_id = _st2_child_link(child)
                if ae_id:
                    index.setdefault(ae_id, mistral_id)
                if child.get("id") and mistral_id:
                    pending.append(child["id"])
        return index.get(action_execution_id)

    return resolve


# -- validation -------------------------------------------------------------------------------------


def original_execution_id(original_context: Dict[str, Any]) -> str:
    """The Mistral execution id recorded in the original StackStorm execution's context."""
    mctx = (original_context or {}).get("mistral") or {}
    ex_id = mctx.get("execution_id")
    if not ex_id:
        raise InvalidOperationError(
            "Cannot re-run: the original execution has no Mistral workflow execution "
            "(context.mistral.execution_id is missing); re-run it from the beginning instead.")
    return ex_id


def task_name_list(value: Any, label: str, error: Callable[[str], Exception],
                   comma_separated: bool = False) -> Optional[List[str]]:
    """`value` as a list of task names (stripped), None when absent; `error(message naming label)`
    when it is anything else. comma_separated: "a, b" is accepted too (query-string style)."""
    if value is None:
        return None
    if comma_separated and isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise error("%s must be a list of task names." % label)
    return [v.strip() for v in value]


def join_names(items: Iterable[str]) -> str:
    """Names for a message: "a, b, c"."""
    return ", ".join(items)


def resolve_and_validate(api: Any, execution_id: str, task_names: Sequence[str],
                         resolve_st2_child: Optional[ResolveSt2Child] = None,
                         verb: str = "re-run") -> Tuple[Dict[str, Any], Dict[str, List[ResolvedTask]]]:
    """(root execution, name -> resolved tasks) when the workflow and every task are in ERROR.

    Otherwise ONE RerunError naming every offender and its state; nothing is changed.
    """
    root = api.get_execution(execution_id)
    offenders: Dict[str, str] = {}
    reasons: List[str] = []
    if root.get("state") != statuses.ERROR:
        state = root.get("state") or "UNKNOWN"
        offenders["<workflow>"] = state
        hint = ""
        if state == statuses.PAUSED:
            hint = " (Mistral ignores task re-runs of a paused workflow: resume it instead)"
        reasons.append("workflow execution %s is %s, not ERROR%s" % (execution_id, state, hint))
    resolved: Dict[str, List[ResolvedTask]] = {}
    for name in dict.fromkeys(task_names):
        found, problem = resolve_task(api, root, name, resolve_st2_child)
        if problem:
            offenders[name] = "does not exist"
            reasons.append(problem)
            continue
        bad = [r for r in found if r.state != statuses.ERROR]
        if bad:
            offenders[name] = bad[0].state
            reasons.append("task %r is %s" % (name, bad[0].state))
            continue
        parents_bad = [r.via for r in found if r.via is not None and r.via.state != statuses.ERROR]
        if parents_bad:
            offenders[name] = "parent %s" % parents_bad[0].state
            reasons.append("task %r (which started the StackStorm workflow holding %r) is %s"
                           % (parents_bad[0].path, name, parents_bad[0].state))
            continue
        for r in found:
            if r.root_execution_id != root["id"] and r.execution.get("state") not in (None, statuses.ERROR):
                # A nested StackStorm workflow's own Mistral execution must have failed too.
                offenders[name] = "workflow %s" % r.execution.get("state")
                reasons.append("task %r belongs to execution %s which is %s, not ERROR"
                               % (name, r.execution["id"], r.execution.get("state")))
                break
        else:
            resolved[name] = found
    if reasons:
        raise RerunError("Cannot %s: %s." % (verb, join_names(reasons)), offenders)
    return root, resolved
