"""Unit tests: Jinja st2kv references in StackStorm action parameters are kept raw for StackStorm."""
from __future__ import annotations

import jinja2
import pytest
from jinja2.sandbox import SandboxedEnvironment

from mistral_v2 import definitions, kv_templates
from mistral_v2.exceptions import DefinitionError

WHERE = 'Task "t" of workflow "w"'


def _raw(text: str) -> str:
    return kv_templates.RAW_OPEN + text + kv_templates.RAW_CLOSE


def _mistral_render(text: str) -> str:
    """What Mistral 23's Jinja evaluator makes of a string (same environment settings)."""
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(text).render(_={})


@pytest.mark.parametrize("text", [
    'echo "{{ st2kv.system.foobar }}"',
    "{{st2kv.user.k}}",
    "{{ st2kv.system.pw | decrypt_kv }}",
    "{% if st2kv.system.flag %}yes{% endif %}",
    "{{ st2kv['system'].x }}",
])
def test_st2kv_references_are_wrapped_and_come_out_of_mistral_unchanged(text):
    out = kv_templates.defer_parameters({"cmd": text}, "core.local", WHERE)["cmd"]
    assert out == _raw(text)
    assert _mistral_render(out) == text


def test_whitespace_survives_mistrals_trim_and_lstrip_blocks():
    text = "\n  echo {{ st2kv.system.x }}  \n\t"
    out = kv_templates.defer_parameters({"cmd": text}, "core.local", WHERE)["cmd"]
    assert _mistral_render(out) == text


@pytest.mark.parametrize("value", [
    "echo plain",
    "<% st2kv('system.x') %>",                 # YAQL: Mistral's st2kv function
    "{{ st2kv('system.x') }}",                 # Jinja function form: Mistral's st2kv function
    "{{ _.st2kv_x }}",
    "{{ my_st2kv.system }}",
    "st2kv.system.x outside any expression",
    "{% raw %}{{ st2kv.system.x }}{% endraw %}",  # already raw: the author's choice
    5,
    None,
])
def test_other_values_are_untouched(value):
    assert kv_templates.defer_parameters({"p": value}, "core.local", WHERE) == {"p": value}


def test_nested_values_are_wrapped_one_by_one():
    params = {"env": {"A": "{{ st2kv.system.a }}", "B": "b"}, "args": ["x", "{{ st2kv.user.c }}"]}
    out = kv_templates.defer_parameters(params, "core.local", WHERE)
    assert out == {"env": {"A": _raw("{{ st2kv.system.a }}"), "B": "b"},
                   "args": ["x", _raw("{{ st2kv.user.c }}")]}


@pytest.mark.parametrize("text", [
    "{{ _.name }} {{ st2kv.system.x }}",
    "{{ st2kv.system[_.key] }}",
    "{{ _['name'] }}-{{ st2kv.system.x }}",
])
def test_mixing_workflow_context_and_st2kv_is_refused(text):
    with pytest.raises(DefinitionError) as err:
        kv_templates.defer_parameters({"cmd": text}, "core.local", WHERE)
    message = str(err.value)
    assert message.startswith(WHERE) and '"cmd"' in message and '"core.local"' in message
    assert "separate parameters" in message


SPEC = {
    "version": "2.0",
    "p.wf": {"tasks": {
        "plain": {"action": "core.local", "input": {"cmd": 'echo "{{ st2kv.system.foobar }}"'}},
        "inline": {"action": 'core.local cmd="{{ st2kv.system.foobar }}"'},
        "proxy": {"action": "st2.action",
                  "input": {"ref": "core.local", "parameters": {"cmd": "{{ st2kv.system.foobar }}"}}},
        "mistral": {"action": "std.echo", "input": {"output": "{{ st2kv.system.foobar }}"}},
    }},
}


def test_transform_wraps_parameters_of_every_stackstorm_action_task():
    lookup = {"core.local": {"cmd": {"type": "string", "required": True}}}.get
    tasks = definitions.transform(SPEC, lookup=lookup)["p.wf"]["tasks"]
    assert tasks["plain"]["input"] == {"ref": "core.local",
                                       "parameters": {"cmd": _raw('echo "{{ st2kv.system.foobar }}"')}}
    assert tasks["inline"]["input"]["parameters"] == {"cmd": _raw("{{ st2kv.system.foobar }}")}
    assert tasks["proxy"]["input"]["parameters"] == {"cmd": _raw("{{ st2kv.system.foobar }}")}
    # not a StackStorm action: Mistral evaluates it (and st2kv.x fails there, as it always did)
    assert tasks["mistral"] == SPEC["p.wf"]["tasks"]["mistral"]


def test_transform_names_the_task_when_refusing():
    spec = {"version": "2.0", "p.wf": {"tasks": {"bad": {
        "action": "core.local", "input": {"cmd": "{{ _.x }}{{ st2kv.system.y }}"}}}}}
    with pytest.raises(DefinitionError, match='Task "bad" of workflow "p.wf": parameter "cmd"'):
        definitions.transform(spec, lookup={"core.local": {"cmd": {"type": "string"}}}.get)
