"""st2client 3.9 patch: the `st2` CLI names the tasks of mistral-v2 workflows instead of crashing.

st2client 3.9 knows the task name of a child execution only from `context.chain.name`
(action-chain) or `context.orquesta.task_name`. A task run by a Mistral workflow has
`context.mistral.task_name` instead, so `st2 execution get <id>` and `st2 run <chain>` of an
action-chain or orquesta workflow with a mistral-v2 descendant end in
"ERROR: cannot access local variable 'task_name_key'", and `st2 execution tail` prints
"task=unknown" for Mistral tasks. StackStorm 3.2's client read `context.mistral.task_name`; this
patch gives the 3.9 client the same reading for those children only (others are unchanged).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional

_MARK = "_st2mistral_compat"


def mistral_task_name(context: Any) -> Optional[str]:
    """The Mistral task name of a child execution's context; None unless it is a Mistral task
    (a `mistral` entry and neither an action-chain nor an orquesta one)."""
    if not isinstance(context, dict) or "chain" in context or "orquesta" in context:
        return None
    mistral = context.get("mistral")
    if not isinstance(mistral, dict):
        return None
    return str(mistral.get("task_name") or "unknown")


def name_mistral_tasks(module: Any) -> bool:
    """Wrap st2client.commands.action's task formatting and tail naming; False if done already."""
    mixin = module.ActionRunCommandMixin
    original_format = mixin._format_for_common_representation
    if getattr(original_format, _MARK, False):
        return False

    def _format_for_common_representation(self: Any, task: Any) -> Any:
        name = mistral_task_name(getattr(task, "context", None))
        if name is None:
            return original_format(self, task)
        view = copy.copy(task)  # the CLI's own formatting, reading the name where it looks
        view.context = dict(task.context, chain={"name": name})
        return original_format(self, view)

    setattr(_format_for_common_representation, _MARK, True)
    mixin._format_for_common_representation = _format_for_common_representation

    tail = module.ActionExecutionTailCommand
    original_event = tail.get_normalized_context_execution_task_event.__func__

    def get_normalized_context_execution_task_event(cls: Any, event: Dict[str, Any]) -> Dict[str, Any]:
        result = original_event(cls, event)
        name = mistral_task_name(event.get("context"))
        if name is not None:
            result["task_name"] = name
        return result

    tail.get_normalized_context_execution_task_event = classmethod(get_normalized_context_execution_task_event)
    return True
