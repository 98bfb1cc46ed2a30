"""Re-run failed tasks of an existing Mistral workflow execution (StackStorm `re-run --tasks`)."""
from __future__ import annotations

import copy
import functools
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from mistral_v2 import seam, statuses
from mistral_v2.exceptions import InvalidOperationError, MistralAPIError, RerunError

LOG = logging.getLogger(__name__)

# action_execution_id of a Mistral `st2.action` call -> the Mistral execution id of the child
# StackStorm execution it started (when that child is itself a mistral-v2 workflow), else None.
ResolveSt2Child = Callable[[str], Optional[str]]

# Env keys the runner owns; user-supplied overrides may not replace them.
# Key of __actions["st2.action"].st2_context telling st2.action which re-run StackStorm child
# workflows to re-run instead of starting afresh: {parent task execution id: {"action_execution_id"
# (the old st2.action call), "mistral_execution_id", "tasks", "reset", "context",
# "parent_execution_id" (the new StackStorm execution; st2.action ignores hints of other ones)}}.
RERUN_CHILDREN_KEY = "rerun_children"

# Root env key naming the tasks to re-run together, per workflow execution:
# {<workflow execution id>: {"primary": <task execution id>, "tasks": [{"task_execution_id",
# "reset"}, ...]}}.  The plugin's rerun_batch_fix re-runs them all in the primary task's re-run
# transaction and deletes the entry (Mistral 23 race, docs/upstream-multi-task-rerun-race.md).
RERUN_BATCH_KEY = "__st2_rerun_batch"

RESERVED_ENV_KEYS = frozenset({"st2_execution_id", "st2_liveaction_id", "st2_action_api_url",
                               "__actions", "__st2_resume", RERUN_BATCH_KEY})


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


# -- small Mistral helpers (MistralAPI methods, with fallbacks for the two it may lack) ----------


def as_dict(value: Any) -> Dict[str, Any]:
    """A JSON field of a Mistral resource (string or dict or None) as a dict."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def execution_env(execution: Dict[str, Any]) -> Dict[str, Any]:
    """The env stored in a Mistral workflow execution's params."""
    return as_dict(as_dict(execution.get("params")).get("env"))


MASK = "********"
_SECRET_KEY = re.compile(r"(token|passw|secret|api_?key|private_?key|credential)", re.I)


def mask_secrets(value: Any, secret_names: Iterable[str] = ()) -> Any:
    """A copy of `value` whose secret-looking keys (and `secret_names`) have masked values."""
    names = set(secret_names)
    if isinstance(value, dict):
        return {k: (MASK if (isinstance(k, str) and (k in names or _SECRET_KEY.search(k)))
                    else mask_secrets(v, names)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, names) for v in value]
    return value


def public_execution(execution: Dict[str, Any]) -> Dict[str, Any]:
    """The execution with its env's secrets (auth token...) masked, safe to return or log."""
    out = dict(execution)
    params = as_dict(out.get("params"))
    if params.get("env"):
        params["env"] = mask_secrets(as_dict(params["env"]))
        out["params"] = json.dumps(params)
    return out


def skip_task(api: Any, task_id: str, env: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """PUT /v2/tasks/<id> {state: SKIPPED}: Mistral 16+ completes the failed task as SKIPPED."""
    if hasattr(api, "skip_task"):
        return api.skip_task(task_id, env=env)
    body: Dict[str, Any] = {"id": task_id, "state": statuses.SKIPPED}
    if env:
        body["env"] = json.dumps(env)
    manager = api.client.tasks

    def _put() -> Dict[str, Any]:
        return manager._update("/tasks/%s" % task_id, body).to_dict()

    return api.call("skip task %s" % task_id, _put)


def apply_to_task(api: Any, task_id: str, what: str, fn: Callable[[], Any]) -> None:
    """Run a re-run/skip call; a refusal after the task already left ERROR counts as done.

    A retried PUT whose first attempt reached Mistral is answered 400 ("must be in ERROR"):
    the task's current state tells whether our change happened.
    """
    try:
        fn()
    except MistralAPIError as exc:
        if exc.status_code is None or exc.status_code >= 500:
            raise
        state = (api.get_task(task_id) or {}).get("state")
        if state in (None, statuses.ERROR):
            raise
        LOG.warning("Mistral refused to %s task %s but it is already %s; treating it as done.",
                    what, task_id, state)


def list_task_action_executions(api: Any, task_id: str) -> List[Dict[str, Any]]:
    """Action executions of one task (oldest first)."""
    if hasattr(api, "list_task_action_executions"):
        return api.list_task_action_executions(task_id)
    found = api.call("list action executions of task %s" % task_id,
                     api.client.action_executions.list, task_id)
    return [a.to_dict() if hasattr(a, "to_dict") else dict(a) for a in found]


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
    for action_ex in reversed(list_task_action_executions(api, task["id"])):
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


_CALLBACK_AE = re.compile(r"/action_executions/([^/?#]+)/?$")


def _st2_child_link(child: Dict[str, Any]) -> Tuple[Optional[str], Optional[str]]:
    """(st2.action action execution id that started `child`, child's own Mistral execution id)."""
    url = (child.get("callback") or {}).get("url") or ""
    m = _CALLBACK_AE.search(url)
    mctx = (child.get("context") or {}).get("mistral") or {}
    ae_id = m.group(1) if m else mctx.get("action_execution_id")
    return ae_id, mctx.get("execution_id")


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


def _join(items: Iterable[str]) -> str:
    return ", ".join(items)


def check_reset_names(task_names: Sequence[str], reset_names: Optional[Iterable[str]],
                      no_reset: Optional[Iterable[str]]) -> Dict[str, bool]:
    """task name -> reset flag; RerunError when reset/no-reset name tasks outside `task_names`."""
    tasks = list(dict.fromkeys(task_names))
    if not tasks:
        raise RerunError("Cannot re-run: no task names given (use --tasks).")
    problems: Dict[str, str] = {}
    if no_reset is not None:
        stray = [n for n in no_reset if n not in tasks]
        for n in stray:
            problems[n] = "not in --tasks"
        no_reset_set = set(no_reset)
    else:
        no_reset_set = set()
    if reset_names is not None:
        stray = [n for n in reset_names if n not in tasks]
        for n in stray:
            problems[n] = "not in --tasks"
        reset_set = set(reset_names)
    else:
        reset_set = set(tasks)
    if problems:
        raise RerunError(
            "Cannot re-run: --no-reset/reset names %s not in --tasks (%s)."
            % (_join("task %r" % n for n in problems), _join(tasks)), problems)
    return {n: (n in reset_set and n not in no_reset_set) for n in tasks}


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
        raise RerunError("Cannot %s: %s." % (verb, _join(reasons)), offenders)
    return root, resolved


# -- definitions of the workflows holding tasks ------------------------------------------------------


def task_spec_of(api: Any, resolved: ResolvedTask) -> Dict[str, Any]:
    """The task's definition (dict) from the workflow definition Mistral holds."""
    from mistral_v2 import resume  # local import: resume imports this module

    task = resolved.task
    body = resume.workflow_body(api, str(task.get("workflow_id") or task.get("workflow_name")),
                                str(task.get("workflow_name") or ""))
    return (body.get("tasks") or {}).get(resolved.task["name"]) or {}


# -- env ----------------------------------------------------------------------------------------------


def check_overrides(overrides: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """User-supplied env variables; RerunError if they try to replace the runner's own keys."""
    if not overrides:
        return {}
    if not isinstance(overrides, dict):
        raise RerunError("Cannot re-run: context overrides must be a mapping of variable -> value.")
    bad = sorted(k for k in overrides if k in RESERVED_ENV_KEYS or not isinstance(k, str))
    if bad:
        raise RerunError("Cannot re-run: context overrides may not set reserved env keys: %s."
                         % _join(map(str, bad)), {k: "reserved" for k in map(str, bad)})
    return dict(overrides)


def update_root_envs(api: Any, root_id: str, resolved: Iterable[ResolvedTask],
                     st2_env: Optional[Dict[str, Any]], extra: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Merge env changes into every root execution involved; returns root id -> env sent.

    The top root gets the new StackStorm execution's env (so results and callbacks go to the new
    execution) plus `extra`; roots of nested StackStorm workflows keep their own StackStorm
    context and get only `extra`.  Mistral reads env() from the root execution of a tree.
    """
    sent: Dict[str, Dict[str, Any]] = {}
    roots = [root_id] + [r.root_execution_id for r in resolved if r.root_execution_id != root_id]
    for rid in dict.fromkeys(roots):
        env = dict(st2_env or {}) if rid == root_id else {}
        env.update(extra)
        if env:
            api.update_execution(rid, None, env=env)
        sent[rid] = env
    return sent


# -- batches (one per workflow execution) ------------------------------------------------------------

# (task execution id, reset, label for messages, workflow execution id)
PlannedRerun = Tuple[str, bool, str, str]


def group_by_workflow(plan: Sequence[PlannedRerun]) -> Dict[str, List[PlannedRerun]]:
    """The planned re-runs per workflow execution, in plan order."""
    groups: Dict[str, List[PlannedRerun]] = {}
    for item in plan:
        groups.setdefault(item[3], []).append(item)
    return groups


def batch_env(groups: Dict[str, List[PlannedRerun]], st2_execution_id: Optional[str]) -> Dict[str, Any]:
    """The RERUN_BATCH_KEY value: an entry for every workflow execution with several tasks to
    re-run.  `for` = the new StackStorm execution: an entry an unpatched Mistral left behind (env
    updates deep-merge, nothing deletes it) belongs to another re-run and the plugin ignores it."""
    return {wf_id: {"primary": items[0][0], "for": st2_execution_id,
                    "tasks": [{"task_execution_id": tid, "reset": reset} for tid, reset, _, _ in items]}
            for wf_id, items in groups.items() if len(items) > 1}


def batch_consumed(api: Any, root_id: str, wf_ex_id: str) -> bool:
    """True when Mistral's patched re-run took the batch of `wf_ex_id` (it deletes the entry)."""
    batches = execution_env(api.get_execution(root_id)).get(RERUN_BATCH_KEY)
    return not (isinstance(batches, dict) and batches.get(wf_ex_id))


def run_batches(api: Any, root_id: str, groups: Dict[str, List[PlannedRerun]]) -> List[str]:
    """Re-run each workflow execution's batch with ONE tasks.rerun call (its primary task) when
    Mistral has the plugin's batch fix; otherwise (entry still there) re-run the others one by one.
    Returns the labels re-run; a failure after some re-runs raises RerunError naming them."""
    done: List[str] = []

    def _rerun(task_id: str, reset: bool, label: str) -> None:
        try:
            apply_to_task(api, task_id, "re-run", functools.partial(api.rerun_task, task_id, reset=reset))
        except Exception as exc:
            if done:
                raise RerunError("Re-run of %s failed after %s were re-run: %s"
                                 % (label, _join(done), exc), {label: "refused"}) from exc
            raise
        done.append(label)

    for wf_id, items in groups.items():
        primary, rest = items[0], items[1:]
        _rerun(primary[0], primary[1], primary[2])
        if not rest:
            continue
        if batch_consumed(api, root_id, wf_id):
            done.extend(label for _, _, label, _ in rest)
            continue
        LOG.info("Mistral has no st2mistral re-run batch fix; re-running the tasks of %s one by one "
                 "(Mistral 23 race possible, see docs/upstream-multi-task-rerun-race.md)", wf_id)
        for task_id, reset, label, _ in rest:
            _rerun(task_id, reset, label)
    return done


# -- the operation -----------------------------------------------------------------------------------


def rerun_tasks(
    api: Any,
    original_context: Dict[str, Any],
    task_names: Sequence[str],
    reset_names: Optional[Iterable[str]] = None,
    env: Optional[Dict[str, Any]] = None,
    *,
    no_reset: Optional[Iterable[str]] = None,
    overrides: Optional[Dict[str, Any]] = None,
    resolve_st2_child: Optional[ResolveSt2Child] = None,
) -> Dict[str, Any]:
    """Re-run the named failed tasks of the original Mistral execution; returns that execution.

    `reset_names`: tasks to reset (StackStorm's API field `reset`; None = all); `no_reset`: the
    CLI's `--no-reset` list (alternative spelling).  A task not reset must be a with-items task
    (only its failed items run again).  `env`: the new StackStorm execution's Mistral env
    (context.build_env); `overrides`: user variables merged into env (visible as env().<name>).
    Everything is validated before the first change; a refusal raises one RerunError.
    """
    ex_id = original_execution_id(original_context)
    resets = check_reset_names(task_names, reset_names, no_reset)
    extra = check_overrides(overrides)
    root, resolved = resolve_and_validate(api, ex_id, list(resets), resolve_st2_child)
    not_with_items = {}
    for name, reset in resets.items():
        if not reset:
            for r in resolved[name]:
                if not task_spec_of(api, r).get("with-items"):
                    not_with_items[name] = "not with-items"
    if not_with_items:
        raise RerunError(
            "Cannot re-run: --no-reset applies only to with-items tasks; %s."
            % _join("task %r is not a with-items task" % n for n in not_with_items), not_with_items)
    direct: List[Tuple[ResolvedTask, bool]] = []
    children: Dict[str, Dict[str, Any]] = {}
    parents: Dict[str, ResolvedTask] = {}
    for name, reset in resets.items():
        for r in resolved[name]:
            if r.via is None:
                direct.append((r, reset))
                continue
            hint = children.setdefault(r.via.task_id, {
                "action_execution_id": r.via_action_execution_id,
                "mistral_execution_id": r.root_execution_id,
                "tasks": [], "reset": [], "context": dict(extra),
                # the re-run this hint belongs to: Mistral merges env, so older hints linger
                "parent_execution_id": (env or {}).get("st2_execution_id")})
            hint["tasks"].append(r.sub_path)
            if reset:
                hint["reset"].append(r.sub_path)
            parents[r.via.task_id] = r.via
    st2_env = copy.deepcopy(env or {})
    if children:
        ctx = st2_env.setdefault("__actions", {}).setdefault("st2.action", {}).setdefault("st2_context", {})
        ctx[RERUN_CHILDREN_KEY] = children
    plan: List[PlannedRerun] = \
        [(r.task_id, reset, r.path, r.execution["id"]) for r, reset in direct] + \
        [(tid, True, "%s (re-runs %s in its StackStorm child)" % (p.path, _join(children[tid]["tasks"])),
          p.execution["id"]) for tid, p in parents.items()]
    groups = group_by_workflow(plan)
    batches = batch_env(groups, st2_env.get("st2_execution_id"))
    if batches:
        st2_env[RERUN_BATCH_KEY] = batches
    update_root_envs(api, root["id"], [r for r, _ in direct] + list(parents.values()), st2_env, extra)
    done = run_batches(api, root["id"], groups)
    LOG.info("Mistral execution %s: re-ran tasks %s", root["id"], _join(done))
    return public_execution(api.get_execution(root["id"]))


def _task_names(hint: Dict[str, Any], key: str) -> Optional[List[str]]:
    value = hint.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RerunError('context["re-run"]["%s"] must be a list of task names.' % key)
    return [v.strip() for v in value]


def _action_execution_of(doc: Dict[str, Any]) -> Optional[str]:
    """The Mistral `st2.action` call that started a StackStorm execution (context, else callback)."""
    mctx = (doc.get("context") or {}).get("mistral") or {}
    if mctx.get("action_execution_id"):
        return str(mctx["action_execution_id"])
    url = str((doc.get("callback") or {}).get("url") or "")
    return url.rstrip("/").rsplit("/action_executions/", 1)[-1] if "/action_executions/" in url else None


def child_rerun_options(hint: Dict[str, Any], action_ref: str, parent_id: Optional[str],
                        get_execution: Callable[[str], Optional[Dict[str, Any]]],
                        list_children: Callable[[str], Iterable[Dict[str, Any]]]) -> Dict[str, Any]:
    """context["re-run"] (with "ref") for a child that st2.action started with a re-run hint.

    The hint ({"tasks", "reset", "context"?, "mistral": {"action_execution_id", "execution_id"}},
    no "ref") names the old st2.action call; the old child is the child of the new parent's
    original execution (its context["re-run"]["ref"]) that this call started. Looked up through
    StackStorm's API (real StackStorm or the host); RerunError names what is missing.
    """
    if not isinstance(hint, dict):
        raise RerunError('context["re-run"] must be an object.')
    tasks = _task_names(hint, "tasks")
    if not tasks:
        raise RerunError('context["re-run"] of a child re-run needs "tasks".')
    reset = _task_names(hint, "reset")
    old = hint.get("mistral") or {}
    old_call = old.get("action_execution_id") if isinstance(old, dict) else None
    if not old_call:
        raise RerunError('context["re-run"] needs "ref" (the execution to re-run) or '
                         '"mistral.action_execution_id" (the st2.action call that started it).')
    parent = get_execution(parent_id) if parent_id else None
    original_parent = (((parent or {}).get("context") or {}).get("re-run") or {}).get("ref")
    if not original_parent:
        raise RerunError("Cannot re-run tasks %s of a child workflow: the parent execution %s is not a re-run."
                         % (", ".join(tasks), parent_id))
    old_child = next((c for c in list_children(original_parent) or [] if _action_execution_of(c) == old_call), None)
    if old_child is None:
        raise RerunError("Cannot re-run tasks %s of a child workflow: execution %s has no child started by "
                         "Mistral action execution %s." % (", ".join(tasks), original_parent, old_call))
    old_ref = (old_child.get("action") or {}).get("ref")
    if old_ref != action_ref:
        raise RerunError("Cannot re-run the child workflow %s: it ran %s, not %s." % (
            old_child["id"], old_ref, action_ref))
    options: Dict[str, Any] = {"ref": old_child["id"], "tasks": tasks,
                               "reset": reset if reset is not None else list(tasks)}
    if isinstance(hint.get("context"), dict) and hint["context"]:
        options["context"] = hint["context"]
    LOG.info("child of %s re-runs %s of its earlier child %s", parent_id, ", ".join(tasks), old_child["id"])
    return options


# Keys of context["mistral"] linking a child execution to the st2.action call that started it.
_PARENT_LINK_KEYS = ("action_execution_id", "task_execution_id", "workflow_execution_id")


def rerun_workflow(runner: Any, action_parameters: Dict[str, Any], options: Dict[str, Any]) -> seam.RunnerResult:
    """MistralRunner.run() for a re-run: returns ("running", {}, context).

    `options` is context["re-run"]: {"ref", "tasks", "reset"} plus ours: "no_reset",
    "context" (variable overrides for env()), "next" (resume from the tasks after the named
    failed ones) with "published" ({task: {var: value}}).
    """
    from mistral_v2 import context as st2_env_context

    original_ctx = getattr(runner.rerun_ex_ref, "context", None) or {}
    api_url, public_url = runner._api_urls()
    token = runner._auth_token() if hasattr(runner, "_auth_token") else None
    env = st2_env_context.build_env(
        execution_id=runner.execution_id,
        liveaction_id=runner.liveaction_id or runner.execution_id,
        liveaction_context=getattr(runner.liveaction, "context", None) or runner.context,
        api_url=api_url,
        public_api_url=public_url,
        auth_token=token,
        notify=seam.notify_as_dict(getattr(runner.liveaction, "notify", None)),
        skip_notify_tasks=(runner.runner_parameters or {}).get("skip_notify") or [],
    )
    resolver = getattr(runner, "resolve_st2_child", None)
    original_id = getattr(runner.rerun_ex_ref, "id", None) or options.get("ref")
    st2 = runner._st2(token) if resolver is None and hasattr(runner, "_st2") else None
    if resolver is None and st2 is not None and original_id:
        resolver = st2_child_resolver(st2.list_children, original_id)
    if options.get("next"):
        from mistral_v2 import resume

        resume.resume_from_next(runner.api, original_ctx, options.get("tasks") or [],
                                options.get("published") or {}, env,
                                overrides=options.get("context"), resolve_st2_child=resolver)
    else:
        rerun_tasks(runner.api, original_ctx, options.get("tasks") or [], options.get("reset"), env,
                    no_reset=options.get("no_reset"), overrides=options.get("context"),
                    resolve_st2_child=resolver)
    ctx = copy.deepcopy(runner.context or {})
    inbound = ctx.get("mistral") or {}
    ctx["mistral"] = dict(original_ctx.get("mistral") or {})
    # A re-run child keeps the link to the st2.action call that started THIS execution.
    ctx["mistral"].update({k: inbound[k] for k in _PARENT_LINK_KEYS if inbound.get(k)})
    return seam.LIVEACTION_STATUS_RUNNING, {}, ctx  # {}: StackStorm keeps a result pushed meanwhile
