"""Plain-text rendering of `st2-mistral` answers: the task tree, a task's context, refusals and checks."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple

import yaml

from mistral_v2 import statuses

Node = Tuple[str, List[Any]]  # (label, children)

STATE_INFO_WIDTH = 100


def one_line(text: Any, width: int = STATE_INFO_WIDTH) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def _st2_node(ex: Dict[str, Any]) -> Node:
    label = "%s %s (%s)" % (ex.get("action"), ex.get("status"), ex.get("id"))
    children = [_workflow_node(ex["workflow"])] if ex.get("workflow") else []
    return label, children


def _workflow_node(wf: Dict[str, Any]) -> Node:
    label = "workflow %s [%s] (mistral %s)" % (wf.get("workflow_name"), wf.get("state"), wf.get("id"))
    if wf.get("state_info") and wf.get("state") == statuses.ERROR and not wf.get("tasks"):
        label += " - " + one_line(wf["state_info"])
    return label, [_task_node(t) for t in wf.get("tasks") or []]


def _task_node(task: Dict[str, Any]) -> Node:
    label = "%s [%s]" % (task.get("name"), task.get("state"))
    if task.get("state_info") and task.get("state") not in (statuses.SUCCESS, statuses.RUNNING):
        label += " - " + one_line(task["state_info"])
    children = [_workflow_node(w) for w in task.get("workflows") or []]
    children += [_st2_node(e) for e in task.get("executions") or []]
    return label, children


def render_nodes(node: Node) -> List[str]:
    """Lines of an indented tree drawn with ├─ └─ │."""
    lines = [node[0]]

    def walk(children: List[Node], prefix: str) -> None:
        for i, (label, sub) in enumerate(children):
            last = i == len(children) - 1
            lines.append(prefix + ("└─ " if last else "├─ ") + label)
            walk(sub, prefix + ("   " if last else "│  "))

    walk(node[1], "")
    return lines


def format_tree(tree: Dict[str, Any]) -> str:
    """The execution tree (GET /api/v1/mistral/executions/<id>/tree) as indented text."""
    return "\n".join(render_nodes(_st2_node(tree)))


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True, allow_unicode=True).rstrip()


def format_context(view: Dict[str, Any]) -> str:
    """A task's inbound context: header, then variables, published, input and env as YAML."""
    out = ["task %s [%s] (task %s, workflow execution %s)" % (
        view.get("task"), view.get("state"), view.get("task_id"), view.get("workflow_execution_id"))]
    for key, title in (("variables", "variables the task saw ($. / ctx())"),
                       ("published", "published by the tasks that led to it"),
                       ("input", "workflow input"), ("env", "env()")):
        out.append("")
        out.append("%s:" % title)
        value = view.get(key) or {}
        out.append("  (none)" if not value else "\n".join("  " + ln for ln in _yaml(value).splitlines()))
    return "\n".join(out)


def format_missing(body: Dict[str, Any]) -> str:
    """A refused resume: the message, then each task's missing variables."""
    lines = [str(body.get("faultstring") or "refused")]
    missing = body.get("missing") or {}
    if missing:
        lines.append("")
        lines.append("Missing requirements:")
        for task, names in missing.items():
            lines.append("  %s: %s" % (task, ", ".join(names)))
            lines.append("    supply with: %s" % " ".join("-p %s.%s=<value>" % (task, n) for n in names))
    else:
        for task, why in (body.get("offenders") or {}).items():
            lines.append("  %s: %s" % (task, why))
    return "\n".join(lines)


def format_rerun_check(check: Dict[str, Any]) -> str:
    """The dry-run of a re-run: verdict, each task's state and reset mode, and the problems."""
    lines = ["%s  (workflow %s, execution %s)" % ("OK" if check.get("ok") else "REFUSED",
                                                  check.get("workflow_state"), check.get("execution_id"))]
    for t in check.get("tasks") or []:
        mode = "reset" if t.get("reset") else "no-reset (failed items only)"
        extra = " in a StackStorm child workflow" if t.get("in_st2_child") else ""
        state = t.get("state") or "does not exist"
        lines.append("  %-24s %-10s %s%s%s" % (t.get("name"), state, mode,
                                                ", with-items" if t.get("with_items") else "", extra))
    problems = check.get("problems") or {}
    if problems:
        lines.append("Problems:")
        lines += ["  %s: %s" % (k, v) for k, v in problems.items()]
    if check.get("message"):
        lines.append(str(check["message"]))
    return "\n".join(lines)


def format_reply(reply: Dict[str, Any]) -> str:
    """An alias execution's reply text, or a note that it is not finished."""
    if not reply.get("completed"):
        return "Execution %s is %s; the reply is rendered when it completes." % (
            reply.get("execution_id"), reply.get("status"))
    return str(reply.get("message") if reply.get("message") is not None else "(the alias has no reply)")


def format_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
