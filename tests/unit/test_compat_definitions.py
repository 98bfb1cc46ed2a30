"""Definitions as StackStorm's mistral_v2 rewrote them: no YAML anchors in what Mistral gets,
ad-hoc actions based on StackStorm actions call st2.action; a child workflow's context["mistral"]."""
from __future__ import annotations

import pytest
import yaml

from mistral_v2 import context, definitions
from mistral_v2.exceptions import DefinitionError, InvalidParametersError

ON_COMPLETE_CONDITION = """version: '2.0'
pk.cond:
  input: [x]
  tasks:
    first:
      action: core.local cmd="echo <% $.x %>"
      publish:
        out: <% task().result.stdout %>
      on-complete:
        - big: <% $.x > 5 %>
        - small: <% $.x <= 5 %>
    big:
      action: std.echo output=big
    small:
      action: std.echo output=small
"""

WITH_ANCHORS = """version: '2.0'
pk.anch:
  tasks:
    a:
      action: std.echo output=a
      on-complete: &next
        - b: <% true %>
    c:
      action: std.echo output=c
      on-success: *next
    b:
      action: std.noop
"""

WORKBOOK_ADHOC = """version: '2.0'
name: pk.book
actions:
  shout:
    base: core.local
    base-input:
      cmd: echo <% $.word %>!
    input: [word]
    output: <% $.stdout %>
  inline:
    base: core.local cmd="echo inline"
  plain:
    base: std.echo
    base-input:
      output: plain
workflows:
  main:
    tasks:
      t1:
        action: shout word=hey
      t2:
        action: pk.book.plain
"""


def _write(tmp_path, text, name="wf.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _lookup(ref):
    return {"cmd": {"type": "string", "required": True}, "timeout": {"type": "integer"}} \
        if ref == "core.local" else None


def test_on_complete_with_a_condition_is_uploaded_without_anchors(tmp_path):
    p = definitions.prepare(_write(tmp_path, ON_COMPLETE_CONDITION), "pk.cond", lookup=_lookup)
    assert "&id" not in p.text and "*id" not in p.text
    task = yaml.safe_load(p.text)["pk.cond"]["tasks"]["first"]
    # the resume hook reuses the on-complete entries; written out in full twice
    assert task["on-skip"] == task["on-complete"] == [{"big": "<% $.x > 5 %>"}, {"small": "<% $.x <= 5 %>"}]
    assert task["action"] == "st2.action"


def test_anchors_of_the_source_file_are_expanded(tmp_path):
    p = definitions.prepare(_write(tmp_path, WITH_ANCHORS), "pk.anch", lookup=_lookup)
    assert "&" not in p.text and "*" not in p.text
    tasks = yaml.safe_load(p.text)["pk.anch"]["tasks"]
    assert tasks["c"]["on-success"] == tasks["a"]["on-complete"] == [{"b": "<% true %>"}]


def test_adhoc_actions_based_on_stackstorm_actions_call_st2_action(tmp_path):
    p = definitions.prepare(_write(tmp_path, WORKBOOK_ADHOC), "pk.book", "pk.book.main", lookup=_lookup)
    spec = yaml.safe_load(p.text)
    acts = spec["actions"]
    assert acts["shout"] == {"base": "st2.action",
                             "base-input": {"ref": "core.local",
                                            "parameters": {"cmd": "echo <% $.word %>!"}},
                             "input": ["word"], "output": "<% $.stdout %>"}
    assert acts["inline"] == {"base": "st2.action",
                              "base-input": {"ref": "core.local", "parameters": {"cmd": "echo inline"}}}
    assert acts["plain"] == {"base": "std.echo", "base-input": {"output": "plain"}}
    tasks = spec["workflows"]["main"]["tasks"]
    assert tasks["t1"]["action"] == "shout word=hey"       # the ad-hoc action itself is not rewritten
    assert tasks["t2"]["action"] == "pk.book.plain"


def test_adhoc_action_parameters_are_checked(tmp_path):
    bad = WORKBOOK_ADHOC.replace("cmd: echo <% $.word %>!", "command: echo")
    with pytest.raises(InvalidParametersError, match='Ad-hoc action "shout": action "core.local" has '
                                                     'unexpected parameter'):
        definitions.prepare(_write(tmp_path, bad), "pk.book", "pk.book.main", lookup=_lookup)


def test_adhoc_actions_must_be_mappings(tmp_path):
    bad = "version: '2.0'\nname: pk.book\nactions: [x]\nworkflows:\n  main:\n    tasks: {}\n"
    with pytest.raises(DefinitionError, match="actions must be a mapping"):
        definitions.prepare(_write(tmp_path, bad), "pk.book", "pk.book.main", lookup=_lookup)


def test_adhoc_without_lookup_uses_the_ref_shape(tmp_path):
    p = definitions.prepare(_write(tmp_path, WORKBOOK_ADHOC), "pk.book", "pk.book.main",
                            mistral_actions=lambda: {"std.echo"})
    acts = yaml.safe_load(p.text)["actions"]
    assert acts["shout"]["base"] == "st2.action" and acts["plain"]["base"] == "std.echo"


# -- context["mistral"] of a child workflow -----------------------------------------------------

LINK = {"workflow_execution_id": "pwf", "workflow_name": "pk.parent", "root_execution_id": "proot",
        "task_execution_id": "ptask", "task_name": "call_child", "action_execution_id": "pae",
        "callback_url": "/v2/action_executions/pae"}
OWN = {"execution_id": "cwf", "workflow_name": "pk.child", "workbook_name": None}


def test_child_workflow_keeps_its_link_and_moves_the_parent_workflow_under_parent():
    got = context.execution_mistral_context(LINK, OWN)
    assert got == {"execution_id": "cwf", "workflow_name": "pk.child", "workbook_name": None,
                   "task_execution_id": "ptask", "task_name": "call_child",
                   "action_execution_id": "pae", "callback_url": "/v2/action_executions/pae",
                   "parent": {"workflow_execution_id": "pwf", "workflow_name": "pk.parent",
                              "root_execution_id": "proot"}}
    # survives a shallow merge (dict.update of the whole context), as StackStorm 3.9 does it
    stored = {"parent": {"execution_id": "p"}, "mistral": dict(LINK)}
    stored.update({"mistral": got})
    assert stored["mistral"]["action_execution_id"] == "pae" and stored["mistral"]["execution_id"] == "cwf"


def test_root_workflow_context_is_its_own_facts():
    assert context.execution_mistral_context(None, OWN) == OWN
    assert context.execution_mistral_context({}, OWN) == OWN


def test_retried_start_keeps_the_execution_context():
    first = context.execution_mistral_context(LINK, OWN)
    assert context.execution_mistral_context(first, OWN) == first


def test_rerun_of_a_child_takes_the_new_link_over_the_originals():
    original = context.execution_mistral_context(LINK, OWN)
    new_link = dict(LINK, action_execution_id="pae2", task_execution_id="ptask2",
                    callback_url="/v2/action_executions/pae2", workflow_execution_id="pwf")
    got = context.execution_mistral_context(new_link, original)
    assert got["execution_id"] == "cwf" and got["action_execution_id"] == "pae2"
    assert got["task_execution_id"] == "ptask2" and got["parent"]["workflow_execution_id"] == "pwf"
