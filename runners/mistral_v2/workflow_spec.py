"""Workflow-spec analysis: parse Mistral definitions, next tasks, published keys, the resume hooks."""
from __future__ import annotations

import copy
import re
from typing import Any, Dict, List, Sequence, Set

import yaml

from mistral_v2.exceptions import DefinitionError

# env key holding the variables a skipped task publishes: {workflow name: {task: {var: value}}}.
RESUME_ENV_KEY = "__st2_resume"

_TRANSITIONS = ("on-success", "on-complete", "on-error", "on-skip")
_ENGINE_COMMANDS = {"fail", "succeed", "pause", "noop"}
_VAR_PATTERNS = [
    re.compile(r"\$\.([A-Za-z_]\w*)\b(?!\s*\()"),                     # YAQL $.var (not $.method())
    re.compile(r"\$\.get\(\s*['\"]([A-Za-z_]\w*)"),                   # YAQL $.get('var')
    re.compile(r"\bctx\(\s*\)\.([A-Za-z_]\w*)\b(?!\s*\()"),           # ctx().var
    re.compile(r"\bctx\(\s*\)\.get\(\s*['\"]([A-Za-z_]\w*)"),         # ctx().get('var')
    re.compile(r"\bctx\(\s*['\"]?([A-Za-z_]\w*)"),                    # ctx(var) / ctx('var')
    re.compile(r"(?<![\w.])_\.([A-Za-z_]\w*)\b(?!\s*\()"),              # Jinja _.var
]


def parse_workflow_body(text: str, workflow_name: str) -> Dict[str, Any]:
    """The body ({type, input, tasks, output...}) of `workflow_name` in a Mistral definition text.

    Mistral returns a standalone workflow's full text (version + one workflow) and a workbook
    workflow as `<short name>: {...}`.
    """
    try:
        spec = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise DefinitionError("Definition of workflow %r is not valid YAML: %s" % (workflow_name, exc)) from None
    if not isinstance(spec, dict):
        raise DefinitionError("Definition of workflow %r is not a mapping." % workflow_name)
    if "workflows" in spec and isinstance(spec["workflows"], dict):
        spec = spec["workflows"]
    bodies = {k: v for k, v in spec.items() if k != "version" and isinstance(v, dict)}
    short = workflow_name.split(".")[-1]
    for key in (workflow_name, short):
        if key in bodies:
            return bodies[key]
    if len(bodies) == 1:
        return next(iter(bodies.values()))
    raise DefinitionError("Workflow %r not found in its definition (has: %s)."
                          % (workflow_name, ", ".join(sorted(bodies))))


def workflow_body(api: Any, workflow_ref: str, workflow_name: str) -> Dict[str, Any]:
    """The body of the workflow Mistral holds under `workflow_ref` (id or name)."""
    wf = api.get_workflow(workflow_ref)
    return parse_workflow_body(wf.get("definition") or "", workflow_name or wf.get("name") or workflow_ref)


def task_definition(api: Any, task: Dict[str, Any]) -> Dict[str, Any]:
    """The definition (dict) of a Mistral task execution's task, from the workflow Mistral holds."""
    body = workflow_body(api, str(task.get("workflow_id") or task.get("workflow_name")),
                         str(task.get("workflow_name") or ""))
    return (body.get("tasks") or {}).get(task["name"]) or {}


def _next_entries(clause: Any) -> List[Any]:
    """The `next` items of a transition clause in any of its forms (str, list, advanced dict)."""
    if clause is None:
        return []
    if isinstance(clause, dict) and ("next" in clause or "publish" in clause):
        clause = clause.get("next")
        if clause is None:
            return []
    if isinstance(clause, (str, dict)):
        return [clause]
    return list(clause)


def next_task_names(task_spec: Dict[str, Any], clauses: Sequence[str] = ("on-success", "on-complete")) -> List[str]:
    """Names of the tasks the given transition clauses of a task lead to (engine commands excluded)."""
    names: List[str] = []
    for key in clauses:
        for entry in _next_entries(task_spec.get(key)):
            target = next(iter(entry)) if isinstance(entry, dict) else entry
            if not isinstance(target, str):
                continue
            name = re.split(r"[\s(]", target.strip(), maxsplit=1)[0]
            if name and name not in _ENGINE_COMMANDS and name not in names:
                names.append(name)
    return names


def publish_keys(task_spec: Dict[str, Any]) -> List[str]:
    """Variables the task publishes on success: `publish` plus on-success/on-complete advanced publish."""
    keys: List[str] = []

    def add(mapping: Any) -> None:
        if isinstance(mapping, dict):
            keys.extend(k for k in mapping if isinstance(k, str) and k not in keys)

    add(task_spec.get("publish"))
    for clause in ("on-success", "on-complete"):
        c = task_spec.get(clause)
        if isinstance(c, dict) and isinstance(c.get("publish"), dict):
            pub = c["publish"]
            for scope in ("branch", "global", "atomic"):
                add(pub.get(scope))
    return keys


def referenced_variables(value: Any) -> Set[str]:
    """Context variables the expressions in `value` read ($.x, ctx().x, ctx(x), _.x, $.get('x'))."""
    found: Set[str] = set()
    if isinstance(value, str):
        for pat in _VAR_PATTERNS:
            found.update(pat.findall(value))
    elif isinstance(value, dict):
        for k, v in value.items():
            found |= referenced_variables(k) | referenced_variables(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            found |= referenced_variables(v)
    return found


def downstream_tasks(body: Dict[str, Any], task_name: str) -> List[str]:
    """Every task reachable from `task_name` through on-success/on-complete (not itself)."""
    tasks = body.get("tasks") or {}
    seen: List[str] = []
    todo = next_task_names(tasks.get(task_name) or {})
    while todo:
        name = todo.pop(0)
        if name in seen or name == task_name or name not in tasks:
            continue
        seen.append(name)
        todo.extend(next_task_names(tasks[name] or {}, _TRANSITIONS))
    return seen


def requirements(body: Dict[str, Any], task_name: str) -> List[str]:
    """Variables `task_name` would publish that the tasks after it (or the output) read."""
    tasks = body.get("tasks") or {}
    keys = publish_keys(tasks.get(task_name) or {})
    used: Set[str] = set()
    for name in downstream_tasks(body, task_name):
        used |= referenced_variables(tasks[name])
    used |= referenced_variables(body.get("output"))
    return [k for k in keys if k in used]



# -- the resume hooks the runner adds to every definition before upload ------------------------------


def hook_expression(workflow_name: str, task_name: str, var: str) -> str:
    """The YAQL a skipped task's publish-on-skip uses to publish a user-supplied value."""
    return "<%% env().get('%s', {}).get('%s', {}).get('%s', {}).get('%s') %%>" % (
        RESUME_ENV_KEY, workflow_name, task_name, var)


def add_resume_hooks_to_workflow(body: Dict[str, Any], workflow_name: str) -> Dict[str, Any]:
    """A copy of a workflow body where every publishing task can be skipped with supplied values.

    Adds `publish-on-skip` (each published variable read from env().__st2_resume) and, for a
    task with `on-complete`, an `on-skip` leading to its on-success + on-complete tasks.  Tasks
    that already define publish-on-skip/on-skip are left alone.
    """
    out = copy.deepcopy(body)
    for name, task in (out.get("tasks") or {}).items():
        if not isinstance(task, dict):
            continue
        keys = publish_keys(task)
        if keys and "publish-on-skip" not in task:
            task["publish-on-skip"] = {k: hook_expression(workflow_name, name, k) for k in keys}
        if task.get("on-complete") is not None and "on-skip" not in task:
            entries: List[Any] = []
            for key in ("on-success", "on-complete"):
                for e in _next_entries(task.get(key)):
                    if e not in entries:
                        entries.append(e)
            if entries:
                task["on-skip"] = entries
    return out


def add_resume_hooks(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Apply add_resume_hooks_to_workflow to a whole definition (workflow file or workbook).

    Workbook workflows are keyed by their Mistral name `<workbook>.<workflow>`.
    """
    out = copy.deepcopy(spec)
    if isinstance(out.get("workflows"), dict):
        prefix = "%s." % out["name"] if out.get("name") else ""
        for wf_name, body in list(out["workflows"].items()):
            if isinstance(body, dict):
                out["workflows"][wf_name] = add_resume_hooks_to_workflow(body, prefix + wf_name)
        return out
    for wf_name, body in list(out.items()):
        if wf_name != "version" and isinstance(body, dict):
            out[wf_name] = add_resume_hooks_to_workflow(body, wf_name)
    return out


def has_resume_hook(task_spec: Dict[str, Any]) -> bool:
    """True when the task's publish-on-skip reads supplied values (add_resume_hooks ran)."""
    pos = task_spec.get("publish-on-skip")
    return isinstance(pos, dict) and any(RESUME_ENV_KEY in str(v) for v in pos.values())

