"""Resume after failed tasks from their next tasks, with the variables the failed tasks would have published.

Not the resume of a paused workflow (that is `MistralRunner.resume`, in cascade.py).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from mistral_v2 import rerun, workflow_spec
from mistral_v2.exceptions import MissingRequirementsError, RerunError
from mistral_v2.task_paths import ResolvedTask, ResolveSt2Child, join_names, original_execution_id, resolve_and_validate

LOG = logging.getLogger(__name__)

# Variables per failed task: {task name: {variable: value}}.
Published = Dict[str, Dict[str, Any]]


@dataclass(frozen=True)
class ResumePlan:
    """A validated resume-from-next: the tasks to skip and the env values they publish."""

    root: Dict[str, Any]
    names: List[str]
    resolved: Dict[str, List[ResolvedTask]]
    env_values: Dict[str, Any]   # overrides plus RESUME_ENV_KEY {workflow: {task: {var: value}}}


def compute_requirements(api: Any, resolved: Dict[str, List[ResolvedTask]]) -> Dict[str, Dict[str, Any]]:
    """name -> {"workflow": Mistral workflow name, "spec": task spec, "required": [vars]}."""
    out: Dict[str, Dict[str, Any]] = {}
    bodies: Dict[str, Dict[str, Any]] = {}
    for name, found in resolved.items():
        task = found[0].task
        wf_name = task.get("workflow_name") or ""
        key = task.get("workflow_id") or wf_name
        if key not in bodies:
            bodies[key] = workflow_spec.workflow_body(api, key, wf_name)
        body = bodies[key]
        spec = (body.get("tasks") or {}).get(task["name"]) or {}
        out[name] = {"workflow": wf_name, "task": task["name"], "spec": spec,
                     "required": workflow_spec.requirements(body, task["name"]),
                     "publishes": workflow_spec.publish_keys(spec)}
    return out


def check_published(names: Sequence[str], published: Published) -> None:
    """RerunError when no task is named or `published` is not {task: {variable: value}}."""
    if not names:
        raise RerunError("Cannot resume: no task names given (use --tasks).")
    if not isinstance(published, dict) or any(not isinstance(v, dict) for v in published.values()):
        raise RerunError("Cannot resume: published variables must map task name -> {variable: value}.")


def lacking(reqs: Dict[str, Dict[str, Any]], names: Sequence[str], published: Published) -> Dict[str, List[str]]:
    """Required variables missing from `published`, per task (tasks lacking none left out)."""
    missing: Dict[str, List[str]] = {}
    for name in names:
        absent = [v for v in reqs[name]["required"] if v not in (published.get(name) or {})]
        if absent:
            missing[name] = absent
    return missing


def missing_variables(api: Any, execution_id: str, task_names: Sequence[str], published: Published,
                      resolve_st2_child: Optional[ResolveSt2Child] = None) -> Dict[str, List[str]]:
    """Missing variables per task for resuming after `task_names` (empty when nothing is missing);
    RerunError when the tasks cannot be resumed after at all."""
    check_published(task_names, published)
    _, resolved = resolve_and_validate(api, execution_id, task_names, resolve_st2_child, verb="resume")
    return lacking(compute_requirements(api, resolved), task_names, published)


def _check_stray(names: Sequence[str], published: Published) -> None:
    stray = [t for t in published if t not in names]
    if stray:
        raise RerunError("Cannot resume: variables given for %s which %s not among the tasks to resume "
                         "after (%s)." % (", ".join(repr(t) for t in stray),
                                          "is" if len(stray) == 1 else "are", ", ".join(names)),
                         {t: "not in --tasks" for t in stray})


def _check_nested(resolved: Dict[str, List[ResolvedTask]]) -> None:
    nested = [n for n, rs in resolved.items() if any(r.via is not None for r in rs)]
    if nested:
        raise RerunError("Cannot resume: %s inside a child StackStorm workflow; resuming from the next "
                         "tasks works within one Mistral workflow tree only (re-run those tasks instead)."
                         % ", ".join("task %r is" % n for n in nested), {n: "in a StackStorm child" for n in nested})


def _check_variables(names: Sequence[str], reqs: Dict[str, Dict[str, Any]], published: Published) -> None:
    """RerunError for variables a task does not publish, MissingRequirementsError for required ones
    not given, RerunError when values are given for a task uploaded without the resume hook."""
    unknown: Dict[str, str] = {}
    unhooked: List[str] = []
    for name in names:
        info, given = reqs[name], published.get(name) or {}
        extra_vars = [v for v in given if v not in info["publishes"]]
        if extra_vars:
            unknown[name] = ", ".join(extra_vars)
        if given and not workflow_spec.has_resume_hook(info["spec"]):
            unhooked.append(name)
    if unknown:
        raise RerunError("Cannot resume: %s." % "; ".join(
            "task %r does not publish %s (it publishes: %s)"
            % (t, v, ", ".join(reqs[t]["publishes"]) or "nothing") for t, v in unknown.items()), unknown)
    missing = lacking(reqs, names, published)
    if missing:
        raise MissingRequirementsError("Cannot resume from the next tasks: missing published variables: %s."
                                       % "; ".join("task %r needs %s" % (t, ", ".join(v))
                                                   for t, v in missing.items()), missing)
    if unhooked:
        raise RerunError("Cannot resume: the definition of %s was uploaded without the resume hook "
                         "(publish-on-skip from env); re-upload it through the runner and start again."
                         % ", ".join(repr(t) for t in unhooked), {t: "no resume hook" for t in unhooked})


def plan(api: Any, execution_id: str, task_names: Sequence[str], published: Published,
         *, overrides: Optional[Dict[str, Any]] = None,
         resolve_st2_child: Optional[ResolveSt2Child] = None) -> ResumePlan:
    """Validate resuming after `task_names` of Mistral execution `execution_id`; nothing is changed.

    `published` gives, per failed task, the variables it would have published.  The variables
    the next tasks (or the workflow output) read are required: when any is missing one
    MissingRequirementsError lists them per task.
    """
    names = list(dict.fromkeys(task_names))
    published = published or {}
    check_published(names, published)
    _check_stray(names, published)
    extra = rerun.check_overrides(overrides)
    root, resolved = resolve_and_validate(api, execution_id, names, resolve_st2_child, verb="resume")
    _check_nested(resolved)
    reqs = compute_requirements(api, resolved)
    _check_variables(names, reqs, published)
    values: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for name in names:
        given = published.get(name) or {}
        if given:
            values.setdefault(reqs[name]["workflow"], {})[reqs[name]["task"]] = dict(given)
    if values:
        extra = dict(extra)
        extra[workflow_spec.RESUME_ENV_KEY] = values
    return ResumePlan(root, names, resolved, extra)


def apply(api: Any, plan: ResumePlan, env: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Complete each failed task as SKIPPED (Mistral 16+), publishing the supplied values through
    the publish-on-skip hook the runner adds to every uploaded definition
    (workflow_spec.add_resume_hooks); the workflow follows its on-success path.  Returns the
    Mistral execution (secrets masked)."""
    root_id = plan.root["id"]
    all_resolved = [r for rs in plan.resolved.values() for r in rs]
    rerun.update_root_envs(api, root_id, all_resolved, env, plan.env_values)
    for name in plan.names:
        for r in plan.resolved[name]:
            rerun.apply_to_task(api, r.task_id, "skip", functools.partial(api.skip_task, r.task_id))
    LOG.info("Mistral execution %s: resumed after tasks %s", root_id, join_names(plan.names))
    return rerun.public_execution(api.get_execution(root_id))


def resume_from_next(
    api: Any,
    original_context: Dict[str, Any],
    task_names: Sequence[str],
    published: Published,
    env: Optional[Dict[str, Any]] = None,
    *,
    overrides: Optional[Dict[str, Any]] = None,
    resolve_st2_child: Optional[ResolveSt2Child] = None,
) -> Dict[str, Any]:
    """Continue the original workflow from the tasks after the failed `task_names` (`plan`, then
    `apply`); returns the Mistral execution.  Nothing changes when anything is refused."""
    ex_id = original_execution_id(original_context)
    return apply(api, plan(api, ex_id, task_names, published, overrides=overrides,
                           resolve_st2_child=resolve_st2_child), env)
