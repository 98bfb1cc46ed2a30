"""st2mistral_compat.client on the real st2client 3.9 classes: Mistral tasks are named, others unchanged."""
from __future__ import annotations

import pytest
from st2client.commands import action
from st2client.models import Execution

from st2mistral_compat import client, hook


@pytest.fixture
def patched(monkeypatch):
    """Patch st2client.commands.action; every class attribute is put back afterwards."""
    for cls, name in ((action.ActionRunCommandMixin, "_format_for_common_representation"),
                      (action.ActionExecutionTailCommand, "get_normalized_context_execution_task_event")):
        monkeypatch.setattr(cls, name, cls.__dict__[name])
    assert client.name_mistral_tasks(action) is True
    assert client.name_mistral_tasks(action) is False  # once
    return action


def _task(context):
    return Execution(id="c1", status="succeeded", action={"ref": "core.local"}, context=context,
                     start_timestamp="t0", end_timestamp="t1", parent="p1")


def test_stock_client_crashes_on_a_mistral_task():
    """What the patch is for: st2client 3.9 alone cannot format a Mistral task."""
    with pytest.raises(UnboundLocalError, match="task_name_key"):
        action.ActionRunCommandMixin._format_for_common_representation(None, _task({"mistral": {"task_name": "t"}}))


def test_mistral_task_is_named_and_other_tasks_are_unchanged(patched):
    fmt = patched.ActionRunCommandMixin._format_for_common_representation
    task = _task({"mistral": {"task_name": "task3"}, "parent": {"execution_id": "p1"}})
    row = fmt(None, task)
    assert (row.id, row.task, row.status, row.action) == ("c1", "task3", "succeeded", "core.local")
    assert "chain" not in task.context  # the caller's object is not changed
    assert fmt(None, _task({"chain": {"name": "step1"}, "mistral": {"task_name": "x"}})).task == "step1"
    assert fmt(None, _task({"orquesta": {"task_name": "t9"}})).task == "t9"


def test_tail_names_mistral_tasks(patched):
    norm = patched.ActionExecutionTailCommand.get_normalized_context_execution_task_event
    event = {"id": "c1", "context": {"mistral": {"task_name": "task10"}, "parent": {"execution_id": "p1"}}}
    assert norm(event) == {"parent_execution_id": "p1", "execution_id": "c1", "task_name": "task10"}
    chain = {"id": "c2", "context": {"chain": {"name": "s"}, "parent": {"execution_id": "p1"}}}
    assert norm(chain)["task_name"] == "s"


def test_the_hook_patches_st2client_when_the_cli_imports_it():
    assert hook.PATCHES["st2client.commands.action"] == "st2mistral_compat.client:name_mistral_tasks"
