"""Re-run failed tasks of an existing Mistral workflow execution (StackStorm `re-run --tasks`).

`plan` validates and resolves everything without changing anything (the dry run shows it);
`apply` carries a plan out; `rerun_tasks` is both.
"""
from __future__ import annotations

import copy
import functools
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from mistral_v2 import callback, masking, results, statuses, workflow_spec
from mistral_v2.exceptions import MistralAPIError, RerunError
from mistral_v2.task_paths import (
    ResolvedTask,
    ResolveSt2Child,
    join_names,
    original_execution_id,
    resolve_and_validate,
    task_name_list,
)

LOG = logging.getLogger(__name__)

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

# Env keys the runner owns; user-supplied overrides may not replace them.
RESERVED_ENV_KEYS = frozenset({"st2_execution_id", "st2_liveaction_id", "st2_action_api_url",
                               "__actions", workflow_spec.RESUME_ENV_KEY, RERUN_BATCH_KEY})

def public_execution(execution: Dict[str, Any]) -> Dict[str, Any]:
    """The execution with its env's secrets (auth token...) masked, safe to return or log."""
    out = dict(execution)
    params = results.json_object(out.get("params"))
    if params.get("env"):
        env = results.json_object(params["env"])
        params["env"] = masking.mask(env, (), masking.env_credentials(env))
        out["params"] = json.dumps(params)
    return out


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


# -- validation -------------------------------------------------------------------------------------


def check_reset_names(task_names: Sequence[str], reset_names: Optional[Iterable[str]],
                      no_reset: Optional[Iterable[str]]) -> Dict[str, bool]:
    """task name -> reset flag; RerunError when reset/no-reset name tasks outside `task_names`."""
    tasks = list(dict.fromkeys(task_names))
    if not tasks:
        raise RerunError("Cannot re-run: no task names given (use --tasks).")
    no_reset_set = set(no_reset) if no_reset is not None else set()
    reset_set = set(reset_names) if reset_names is not None else set(tasks)
    problems = {n: "not in --tasks" for names in (no_reset, reset_names) if names is not None
                for n in names if n not in tasks}
    if problems:
        raise RerunError(
            "Cannot re-run: --no-reset/reset names %s not in --tasks (%s)."
            % (join_names("task %r" % n for n in problems), join_names(tasks)), problems)
    return {n: (n in reset_set and n not in no_reset_set) for n in tasks}


def check_overrides(overrides: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """User-supplied env variables; RerunError if they try to replace the runner's own keys."""
    if not overrides:
        return {}
    if not isinstance(overrides, dict):
        raise RerunError("Cannot re-run: context overrides must be a mapping of variable -> value.")
    bad = sorted(k for k in overrides if k in RESERVED_ENV_KEYS or not isinstance(k, str))
    if bad:
        raise RerunError("Cannot re-run: context overrides may not set reserved env keys: %s."
                         % join_names(map(str, bad)), {k: "reserved" for k in map(str, bad)})
    return dict(overrides)


# -- env and batches (one per workflow execution) ------------------------------------------------------


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
    batches = results.execution_env(api.get_execution(root_id)).get(RERUN_BATCH_KEY)
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
                                 % (label, join_names(done), exc), {label: "refused"}) from exc
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


# -- the operation: plan, then apply ---------------------------------------------------------------------


@dataclass(frozen=True)
class RerunPlan:
    """What a re-run will do, found without changing anything: validated, names resolved."""

    root: Dict[str, Any]                    # the Mistral workflow execution re-run
    resets: Dict[str, bool]                 # task name -> reset (False: only the failed items)
    resolved: Dict[str, List[ResolvedTask]]
    overrides: Dict[str, Any]               # user variables merged into env


def _is_with_items(api: Any, resolved: List[ResolvedTask]) -> bool:
    return bool(resolved) and all(workflow_spec.task_definition(api, r.task).get("with-items") for r in resolved)


def failed_items_only(api: Any, resolved: Dict[str, List[ResolvedTask]]) -> Dict[str, bool]:
    """task name -> reset flag when the request named no task to reset (StackStorm's `reset` list
    was empty, so its API left it out): with-items tasks re-run their failed items only (as
    StackStorm's own Mistral runner reset only the tasks listed in `reset`); other tasks are
    reset, which for a failed non-with-items task is the same thing in Mistral."""
    return {name: not _is_with_items(api, tasks) for name, tasks in resolved.items()}


def check_with_items(api: Any, resets: Dict[str, bool], resolved: Dict[str, List[ResolvedTask]]) -> None:
    """RerunError unless every task that is not reset is a with-items task."""
    not_with_items = {}
    for name, reset in resets.items():
        if not reset:
            for r in resolved[name]:
                if not workflow_spec.task_definition(api, r.task).get("with-items"):
                    not_with_items[name] = "not with-items"
    if not_with_items:
        raise RerunError(
            "Cannot re-run: --no-reset applies only to with-items tasks; %s."
            % join_names("task %r is not a with-items task" % n for n in not_with_items), not_with_items)


def plan(api: Any, execution_id: str, task_names: Sequence[str], reset_names: Optional[Iterable[str]] = None,
         *, no_reset: Optional[Iterable[str]] = None, overrides: Optional[Dict[str, Any]] = None,
         resolve_st2_child: Optional[ResolveSt2Child] = None, unset_reset_means_none: bool = False) -> RerunPlan:
    """Validate a re-run of `task_names` in Mistral execution `execution_id` and resolve the names.

    `reset_names`: tasks to reset (StackStorm's API field `reset`; None = all, or with
    `unset_reset_means_none` and no `no_reset`: `failed_items_only`); `no_reset`: the CLI's
    `--no-reset` list (alternative spelling).  A task not reset must be a with-items task (only
    its failed items run again).  A refusal raises one RerunError; nothing is changed.
    """
    resets = check_reset_names(task_names, reset_names, no_reset)
    extra = check_overrides(overrides)
    root, resolved = resolve_and_validate(api, execution_id, list(resets), resolve_st2_child)
    if unset_reset_means_none and reset_names is None and no_reset is None:
        resets = failed_items_only(api, resolved)
    check_with_items(api, resets, resolved)
    return RerunPlan(root, resets, resolved, extra)


def _child_hints(plan: RerunPlan, st2_execution_id: Optional[str]) -> Tuple[
        List[Tuple[ResolvedTask, bool]], Dict[str, Dict[str, Any]], Dict[str, ResolvedTask]]:
    """(tasks re-run directly, RERUN_CHILDREN_KEY hints per st2.action task, those tasks by id)."""
    direct: List[Tuple[ResolvedTask, bool]] = []
    children: Dict[str, Dict[str, Any]] = {}
    parents: Dict[str, ResolvedTask] = {}
    for name, reset in plan.resets.items():
        for r in plan.resolved[name]:
            if r.via is None:
                direct.append((r, reset))
                continue
            hint = children.setdefault(r.via.task_id, {
                "action_execution_id": r.via_action_execution_id,
                "mistral_execution_id": r.root_execution_id,
                "tasks": [], "reset": [], "context": dict(plan.overrides),
                # the re-run this hint belongs to: Mistral merges env, so older hints linger
                "parent_execution_id": st2_execution_id})
            hint["tasks"].append(r.sub_path)
            if reset:
                hint["reset"].append(r.sub_path)
            parents[r.via.task_id] = r.via
    return direct, children, parents


def apply(api: Any, plan: RerunPlan, env: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Carry out a re-run plan; returns the Mistral execution (secrets masked).

    `env`: the new StackStorm execution's Mistral env (MistralRunner.build_env); the plan's
    overrides are merged into it (visible as env().<name>).
    """
    root_id = plan.root["id"]
    direct, children, parents = _child_hints(plan, (env or {}).get("st2_execution_id"))
    st2_env = copy.deepcopy(env or {})
    if children:
        ctx = st2_env.setdefault("__actions", {}).setdefault("st2.action", {}).setdefault("st2_context", {})
        ctx[RERUN_CHILDREN_KEY] = children
    planned: List[PlannedRerun] = \
        [(r.task_id, reset, r.path, r.execution["id"]) for r, reset in direct] + \
        [(tid, True, "%s (re-runs %s in its StackStorm child)" % (p.path, join_names(children[tid]["tasks"])),
          p.execution["id"]) for tid, p in parents.items()]
    groups = group_by_workflow(planned)
    batches = batch_env(groups, st2_env.get("st2_execution_id"))
    if batches:
        st2_env[RERUN_BATCH_KEY] = batches
    update_root_envs(api, root_id, [r for r, _ in direct] + list(parents.values()), st2_env, plan.overrides)
    done = run_batches(api, root_id, groups)
    LOG.info("Mistral execution %s: re-ran tasks %s", root_id, join_names(done))
    return public_execution(api.get_execution(root_id))


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
    unset_reset_means_none: bool = False,
) -> Dict[str, Any]:
    """Re-run the named failed tasks of the original Mistral execution (`plan`, then `apply`);
    returns that execution.  Everything is validated before the first change."""
    ex_id = original_execution_id(original_context)
    return apply(api, plan(api, ex_id, task_names, reset_names, no_reset=no_reset, overrides=overrides,
                           resolve_st2_child=resolve_st2_child, unset_reset_means_none=unset_reset_means_none),
                 env)


def _task_names(hint: Dict[str, Any], key: str) -> Optional[List[str]]:
    return task_name_list(hint.get(key), 'context["re-run"]["%s"]' % key, RerunError)


def child_rerun_options(hint: Dict[str, Any], action_ref: str, parent_id: Optional[str],
                        get_execution: Callable[[str], Optional[Dict[str, Any]]],
                        list_children: Callable[[str], Iterable[Dict[str, Any]]]) -> Dict[str, Any]:
    """context["re-run"] (with "ref") for a child that st2.action started with a re-run hint.

    The hint ({"tasks", "reset", "context"?, "mistral": {"action_execution_id", "execution_id"}},
    no "ref") names the old st2.action call; the old child is the child of the new parent's
    original execution (its context["re-run"]["ref"]) that this call started. The runner looks it
    up through StackStorm's API (real StackStorm or the host); RerunError names what is missing.
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
    old_child = next((c for c in list_children(original_parent) or []
                      if callback.child_action_execution_id(c.get("context"), c.get("callback")) == old_call), None)
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
