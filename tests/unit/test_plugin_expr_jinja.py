"""Unit tests: every expression function registered as Mistral 23 does, in Jinja function AND filter form."""
from __future__ import annotations

import ast
import sys
from functools import partial
from pathlib import Path

import jinja2
import pytest
from jinja2.sandbox import SandboxedEnvironment

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "contrib" / "st2mistral_plugin"))

from st2mistral_plugin import functions  # noqa: E402
from st2mistral_plugin.expressions import data, regex, time, version  # noqa: E402


def _registered():
    """name -> function, read from the plugin's setup.py as Mistral reads its entry points."""
    tree = ast.parse((ROOT / "contrib" / "st2mistral_plugin" / "setup.py").read_text())
    table = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                 and node.targets[0].id == "EXPRESSION_FUNCTIONS")
    modules = {"data": data, "regex": regex, "time": time, "version": version}
    names = ast.literal_eval(table)
    out = {name: getattr(modules[module], name) for module, group in names.items() for name in group}
    out["st2kv"] = functions.st2kv_
    return out


FUNCTIONS = _registered()


def _render(template: str, data_context: dict):
    """Mistral 23's jinja_expression: filters are the raw functions, names are partials."""
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(FUNCTIONS)
    ctx = {"_": data_context, "__env": data_context.get("__env")}
    ctx.update({name: partial(func, data_context) for name, func in FUNCTIONS.items()})
    return env.compile_expression(template, undefined_to_none=False)(**ctx)


def test_all_23_st2mistral_functions_are_registered():
    assert sorted(FUNCTIONS) == sorted([
        "st2kv", "from_json_string", "from_yaml_string", "to_complex", "to_json_string",
        "to_yaml_string", "json_escape", "jsonpath_query", "regex_match", "regex_replace",
        "regex_search", "regex_substring", "to_human_time_from_seconds", "use_none",
        "version_compare", "version_more_than", "version_less_than", "version_equal",
        "version_match", "version_bump_major", "version_bump_minor", "version_bump_patch",
        "version_strip_patch"])


CASES = [
    # (function form, filter form, expected)
    ("from_json_string(_.j)", "_.j | from_json_string", {"a": [1, 2]}),
    ("from_yaml_string(_.y)", "_.y | from_yaml_string", {"b": "ü"}),
    ("to_complex(_.o)", "_.o | to_complex", '{"k": [1, 2]}'),
    ("to_json_string(_.o, indent=None)", "_.o | to_json_string(indent=None)", '{"k":[1,2]}'),
    ("to_yaml_string(_.o, indent=2)", "_.o | to_yaml_string(indent=2)", "k:\n- 1\n- 2\n"),
    ("json_escape(_.s)", "_.s | json_escape", 'a\\"b\\n'),
    ("jsonpath_query(_.o, 'k[*]')", "_.o | jsonpath_query('k[*]')", [1, 2]),
    ("regex_match(_.s, 'A', ignorecase=True)", "_.s | regex_match('A', ignorecase=True)", True),
    ("regex_replace(_.s, 'b', 'c')", "_.s | regex_replace('b', 'c')", 'a"c\n'),
    ("regex_search(_.s, 'b')", "_.s | regex_search('b')", True),
    ("regex_substring(_.s, '[a-z]', 1)", "_.s | regex_substring('[a-z]', 1)", "b"),
    ("to_human_time_from_seconds(_.n)", "_.n | to_human_time_from_seconds", "3h25m45s"),
    ("use_none(_.none)", "_.none | use_none", "%*****__%NONE%__*****%"),
    ("version_compare(_.v, '1.0.0')", "_.v | version_compare('1.0.0')", -1),
    ("version_more_than(_.v, '0.9.0')", "_.v | version_more_than('0.9.0')", True),
    ("version_less_than(_.v, '1.0.0')", "_.v | version_less_than('1.0.0')", True),
    ("version_equal(_.v, '1.0.0-rc.1')", "_.v | version_equal('1.0.0-rc.1')", True),
    ("version_match(_.v, '<1.0.0')", "_.v | version_match('<1.0.0')", True),
    ("version_bump_major(_.v)", "_.v | version_bump_major", "2.0.0"),
    ("version_bump_minor(_.v)", "_.v | version_bump_minor", "1.1.0"),
    ("version_bump_patch(_.v)", "_.v | version_bump_patch", "1.0.1"),
    ("version_strip_patch(_.v)", "_.v | version_strip_patch", "1.0"),
]
DATA = {"j": '{"a": [1, 2]}', "y": "b: ü", "o": {"k": [1, 2]}, "s": 'a"b\n', "n": 12345,
        "none": None, "v": "1.0.0-rc.1", "__env": {}}


@pytest.mark.parametrize("function_form,filter_form,expected", CASES, ids=[c[0].split("(")[0] for c in CASES])
def test_function_and_filter_forms_agree(function_form, filter_form, expected):
    assert _render(function_form, DATA) == expected
    assert _render(filter_form, DATA) == expected


def test_every_function_has_a_jinja_case():
    covered = {case[0].split("(")[0] for case in CASES} | {"st2kv"}
    assert covered == set(FUNCTIONS)


def test_st2kv_filter_form_reads_the_workflow_env(monkeypatch):
    seen = []
    monkeypatch.setattr(functions, "get_value",
                        lambda st2_ctx, key, decrypt=False, default=None: seen.append(
                            (st2_ctx, key, decrypt)) or "v")
    env = {"__actions": {"st2.action": {"st2_context": {"api_url": "http://x/api/v1"}}}}
    assert _render("'system.k' | st2kv(decrypt=True)", {"__env": env}) == "v"
    assert _render("st2kv('system.k')", {"__env": env}) == "v"
    assert seen == [({"api_url": "http://x/api/v1"}, "system.k", True),
                    ({"api_url": "http://x/api/v1"}, "system.k", False)]
