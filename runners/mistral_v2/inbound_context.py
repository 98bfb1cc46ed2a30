"""What a Mistral task saw when it started: workflow input, env (secrets masked) and published variables."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from mistral_v2 import masking, statuses, workflow_spec
from mistral_v2.exceptions import RerunError, St2MistralError
from mistral_v2.results import execution_env, json_object
from mistral_v2.task_paths import ResolveSt2Child, latest_tasks, resolve_task


def triggers_from_definition(body: Dict[str, Any], tasks: List[Dict[str, Any]]) -> Dict[str, List[str]]:
    """task name -> ids of completed task executions whose definition transitions lead to it.

    Used for tasks whose `runtime_context.triggered_by` Mistral cleared (a re-run does that).
    """
    latest = latest_tasks(tasks)
    out: Dict[str, List[str]] = {}
    for name, spec in (body.get("tasks") or {}).items():
        src = latest.get(name)
        if src is None or src.get("state") not in (statuses.SUCCESS, statuses.ERROR, statuses.SKIPPED):
            continue
        for target in workflow_spec.next_task_names(spec or {}, ("on-success", "on-error", "on-complete", "on-skip")):
            out.setdefault(target, []).append(src["id"])
    return out


def published_before(tasks_by_id: Dict[str, Dict[str, Any]], task: Dict[str, Any],
                     fallback: Optional[Dict[str, List[str]]] = None) -> Dict[str, Any]:
    """Variables published by the tasks that (transitively) triggered `task`, as Mistral merges them.

    `fallback` (task name -> triggering task ids) is used for tasks without `triggered_by`.
    """
    memo: Dict[str, Dict[str, Any]] = {}

    def inbound(t: Dict[str, Any], visiting: frozenset) -> Dict[str, Any]:
        if t["id"] in memo:
            return memo[t["id"]]
        ctx: Dict[str, Any] = {}
        triggers = [trig.get("task_id") for trig in json_object(t.get("runtime_context")).get("triggered_by") or []]
        if not triggers and fallback:
            triggers = fallback.get(str(t.get("name")), [])
        for trig_id in triggers:
            parent = tasks_by_id.get(trig_id)
            if parent is None or parent["id"] in visiting:
                continue
            ctx.update(inbound(parent, visiting | {parent["id"]}))
            ctx.update(json_object(parent.get("published")))
        memo[t["id"]] = ctx
        return ctx

    return inbound(task, frozenset({task["id"]}))


def task_inbound_context(
    api: Any,
    execution_id: str,
    task_name: str,
    resolve_st2_child: Optional[ResolveSt2Child] = None,
    secret_names: Iterable[str] = (),
) -> Dict[str, Any]:
    """The inbound context of `task_name` (dotted names allowed) in Mistral execution `execution_id`.

    Mistral's REST API does not expose a task's inbound context; it is derived the way the
    engine builds it: the workflow input, then the variables published by the tasks that led to
    the task (runtime_context.triggered_by, transitively), with global published variables.
    Returns {"task", "task_id", "state", "workflow_execution_id", "input", "env", "published",
    "variables"}; `variables` is what `$.` / `ctx()` would show.  Secrets are masked.
    """
    root = api.get_execution(execution_id)
    found, problem = resolve_task(api, root, task_name, resolve_st2_child)
    if problem:
        raise RerunError("Cannot show the context: %s." % problem, {task_name: "does not exist"})
    r = found[-1]
    ex = r.execution if "input" in r.execution else api.get_execution(r.execution["id"])
    env_holder = root if r.root_execution_id == root["id"] else api.get_execution(r.root_execution_id)
    all_tasks: List[Dict[str, Any]] = api.list_tasks(ex["id"])
    fallback = None
    if not json_object(r.task.get("runtime_context")).get("triggered_by"):
        try:
            body = workflow_spec.workflow_body(api, str(r.task.get("workflow_id") or r.task.get("workflow_name")),
                                        str(r.task.get("workflow_name") or ""))
            fallback = triggers_from_definition(body, all_tasks)
        except St2MistralError:
            fallback = None  # no definition: only the recorded triggers are used
    published = published_before({t["id"]: t for t in all_tasks}, r.task, fallback)
    wf_input = json_object(ex.get("input"))
    variables: Dict[str, Any] = dict(wf_input)
    variables.update(json_object(ex.get("published_global")))
    variables.update(published)
    secrets = list(secret_names)
    env = execution_env(env_holder)
    values = (masking.secret_values(wf_input, secrets, *masking.env_credentials(env))
              + masking.secret_values(json_object(env_holder.get("input")), secrets))
    mask_secrets = masking.Masker(secrets, values)
    return {
        "task": task_name,
        "task_id": r.task_id,
        "state": r.state,
        "workflow_execution_id": ex["id"],
        "input": mask_secrets(wf_input),
        "env": mask_secrets(env),
        "published": mask_secrets(published),
        "variables": mask_secrets(variables),
    }
