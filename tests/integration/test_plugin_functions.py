"""All 23 st2mistral expression functions on a REAL Mistral 23, in YAQL, in Jinja and as Jinja filters;
and `{{ st2kv.system.key }}` in StackStorm action parameters, rendered by the host as StackStorm does.

A pack workflow run by the local host (so st2kv reads the host's real key-value store) publishes
every function's value in each form; the test asserts the published values. Bad input fails the
task with the function's own error message.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple

import pytest
import requests
import yaml

pytestmark = pytest.mark.integration

DATA = {
    "j": '{"a": [1, {"b": "\u00fc"}]}',
    "y": "a: [1, 2]\nb: \u00fc\n",
    "o": {"k": [1, 2], "n": {"x": "y"}},
    "s": 'say "hi"\n',
    "addr": "You are at 567 Elsewhere Dr. Im at 123 Foo Ave.",
    "secs": 12345,
    "v": "1.0.0-rc.1",
    "nothing": None,
}
MAGIC_NONE = "%*****__%NONE%__*****%"

# (function, positional args, keyword args, expected). '@x' is the workflow input x ($.x / _.x).
CASES: List[Tuple[str, List[str], Dict[str, str], Any]] = [
    ("st2kv", ["'system.exprtest_key'"], {}, "kv-value"),
    ("from_json_string", ["@j"], {}, {"a": [1, {"b": "\u00fc"}]}),
    ("from_yaml_string", ["@y"], {}, {"a": [1, 2], "b": "\u00fc"}),
    ("to_complex", ["@o"], {}, '{"k": [1, 2], "n": {"x": "y"}}'),
    ("to_json_string", ["@o"], {"indent": "null", "sort_keys": "true"}, '{"k":[1,2],"n":{"x":"y"}}'),
    ("to_yaml_string", ["@o"], {}, "k:\n- 1\n- 2\nn:\n    x: y\n"),
    ("json_escape", ["@s"], {}, 'say \\"hi\\"\\n'),
    ("jsonpath_query", ["@o", "'n.x'"], {}, ["y"]),
    ("regex_match", ["@v", "'^1[.]0'"], {}, True),
    ("regex_replace", ["@s", "'hi'", "'bye'"], {}, 'say "bye"\n'),
    ("regex_search", ["@addr", "'foo'"], {"ignorecase": "true"}, True),
    ("regex_substring", ["@addr", "'([0-9]{3} [A-Za-z]+ (?:Ave|Dr))'"], {"result_index": "1"}, "123 Foo Ave"),
    ("to_human_time_from_seconds", ["@secs"], {}, "3h25m45s"),
    ("use_none", ["@nothing"], {}, MAGIC_NONE),
    ("version_compare", ["@v", "'1.0.0'"], {}, -1),
    ("version_more_than", ["@v", "'0.9.9'"], {}, True),
    ("version_less_than", ["@v", "'1.0.0'"], {}, True),
    ("version_equal", ["@v", "'1.0.0-rc.1'"], {}, True),
    ("version_match", ["@v", "'<1.0.0'"], {}, True),
    ("version_bump_major", ["@v"], {}, "2.0.0"),
    ("version_bump_minor", ["@v"], {}, "1.1.0"),
    ("version_bump_patch", ["@v"], {}, "1.0.1"),
    ("version_strip_patch", ["@v"], {}, "1.0"),
]


def _arg(token: str, language: str) -> str:
    if token.startswith("@"):
        return ("$." if language == "yaql" else "_.") + token[1:]
    if language == "jinja" and token == "null":
        return "none"
    return token


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _call(name: str, args: List[str], kwargs: Dict[str, str], form: str) -> str:
    language = "yaql" if form == "yaql" else "jinja"
    pos = [_arg(a, language) for a in args]
    # YAQL names keyword parameters in camelCase (sort_keys => sortKeys), as with st2mistral.
    kws = [("%s => %s" % (_camel(k), _arg(v, language)) if language == "yaql" else
            "%s=%s" % (k, _arg(v, language))) for k, v in kwargs.items()]
    if form == "yaql":
        return "<%% %s(%s) %%>" % (name, ", ".join(pos + kws))
    if form == "jinja":
        return "{{ %s(%s) }}" % (name, ", ".join(pos + kws))
    rest = pos[1:] + kws
    return "{{ %s | %s%s }}" % (pos[0], name, "(%s)" % ", ".join(rest) if rest else "")


FORMS = ("yaql", "jinja", "filter")


def _workflow() -> str:
    publish = {"%s_%s" % (form, name): _call(name, args, kwargs, form)
               for name, args, kwargs, _ in CASES for form in FORMS}
    wf = {"version": "2.0", "exprtest.functions": {
        "input": list(DATA),
        "tasks": {"evaluate": {"action": "std.noop", "publish": publish}},
        "output": {key: "<%% $.%s %%>" % key for key in publish},
    }}
    return yaml.safe_dump(wf, default_flow_style=False, allow_unicode=True)


def _bad_workflow() -> str:
    wf = {"version": "2.0", "exprtest.bad": {
        "input": ["v", "language"],
        "tasks": {
            "route": {"action": "std.noop", "on-success": [
                {"yaql_bad": "<% $.language = 'yaql' %>"}, {"jinja_bad": "<% $.language = 'jinja' %>"}]},
            "yaql_bad": {"action": "std.noop", "publish": {"out": "<% version_bump_major($.v) %>"}},
            "jinja_bad": {"action": "std.noop", "publish": {"out": "{{ regex_substring(_.v, 'z') }}"}},
        },
    }}
    return yaml.safe_dump(wf, default_flow_style=False)


KV_PARAMS_WORKFLOW = """\
version: '2.0'
exprtest.kv_params:
  tasks:
    system:
      action: core.local
      input:
        cmd: 'echo "{{ st2kv.system.exprtest_key }}"'
      publish:
        system: <% task(system).result.stdout %>
      on-success: decrypted
    decrypted:
      action: core.local cmd="echo {{ st2kv.system.exprtest_secret | decrypt_kv }}"
      publish:
        decrypted: <% task(decrypted).result.stdout %>
      on-success: user
    user:
      action: st2.action
      input:
        ref: core.local
        parameters:
          cmd: "echo {{ st2kv.user.exprtest_mine }}"
      publish:
        user: <% task(user).result.stdout %>
      on-success: nothing
    nothing:
      action: core.local
      input:
        cmd: echo none
        env: <% use_none(null) %>
  output:
    system: <% $.system %>
    decrypted: <% $.decrypted %>
    user: <% $.user %>
"""

PACK = {
    "pack.yaml": "ref: exprtest\nname: exprtest\ndescription: expression functions\nversion: 0.1.0\n",
    "actions/functions.yaml": (
        "name: functions\nrunner_type: mistral-v2\nentry_point: workflows/functions.yaml\n"
        "parameters:\n" + "".join("  %s:\n    type: %s\n" % (k, t) for k, t in (
            ("j", "string"), ("y", "string"), ("o", "object"), ("s", "string"), ("addr", "string"),
            ("secs", "integer"), ("v", "string"), ("nothing", "string")))),
    "actions/workflows/functions.yaml": _workflow(),
    "actions/bad.yaml": (
        "name: bad\nrunner_type: mistral-v2\nentry_point: workflows/bad.yaml\n"
        "parameters:\n  v:\n    type: string\n  language:\n    type: string\n"),
    "actions/workflows/bad.yaml": _bad_workflow(),
    "actions/kv_params.yaml": "name: kv_params\nrunner_type: mistral-v2\nentry_point: workflows/kv_params.yaml\n",
    "actions/workflows/kv_params.yaml": KV_PARAMS_WORKFLOW,
}


@pytest.fixture(scope="module")
def expr_host(mistral_server, tmp_path_factory, st2_host_class):
    with st2_host_class.serving(tmp_path_factory.mktemp("exprhost"), PACK, mistral_server.url) as host:
        host.st2("key", "set", "exprtest_key", "kv-value")
        host.st2("key", "set", "exprtest_secret", "s3cret", "--encrypt")
        host.st2("key", "set", "exprtest_mine", "mine-value", "--scope", "user")
        yield host


def _start(host: Any, ref: str, parameters: Dict[str, Any]) -> str:
    resp = requests.post(host.base_url + "/api/v1/executions", headers={"St2-Api-Key": host.api_key},
                         json={"action": ref, "parameters": parameters}, timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def _output(doc: Dict[str, Any]) -> Dict[str, Any]:
    result = doc.get("result") or {}
    return result.get("output", result)


def test_every_function_in_yaql_jinja_and_filter_form(expr_host):
    ex_id = _start(expr_host, "exprtest.functions", DATA)
    doc = expr_host.wait(ex_id, ["succeeded", "failed"], timeout=120)
    assert doc["status"] == "succeeded", json.dumps(doc.get("result"), indent=1)[:3000]
    out = _output(doc)
    wrong = {}
    for name, _, _, expected in CASES:
        for form in FORMS:
            key = "%s_%s" % (form, name)
            if out.get(key) != expected:
                wrong[key] = out.get(key, "<missing>")
    assert not wrong, wrong
    assert len(CASES) == 23 and len({c[0] for c in CASES}) == 23


@pytest.mark.parametrize("language,value,message", [
    ("yaql", "1.0", "version_bump_major: '1.0' is not a valid semantic version"),
    ("jinja", "abc", "regex_substring: no match number 0 for pattern 'z'"),
])
def test_bad_input_fails_the_task_with_the_function_error(expr_host, language, value, message):
    ex_id = _start(expr_host, "exprtest.bad", {"v": value, "language": language})
    doc = expr_host.wait(ex_id, ["succeeded", "failed"], timeout=120)
    assert doc["status"] == "failed"
    assert message in json.dumps(doc.get("result")), json.dumps(doc.get("result"), indent=1)[:3000]


def test_st2kv_in_stackstorm_action_parameters_is_rendered_when_the_action_starts(expr_host):
    """examples.mistral-jinja-st2kv-system-scope: Mistral passes the Jinja on, the host renders it."""
    ex_id = _start(expr_host, "exprtest.kv_params", {})
    doc = expr_host.wait(ex_id, ["succeeded", "failed"], timeout=120)
    assert doc["status"] == "succeeded", json.dumps(doc.get("result"), indent=1)[:3000]
    out = _output(doc)
    assert {k: (out.get(k) or "").strip() for k in ("system", "decrypted", "user")} == {
        "system": "kv-value", "decrypted": "s3cret", "user": "mine-value"}
    children = {c["parameters"].get("cmd"): c for c in expr_host.children(ex_id)}
    assert set(children) == {'echo "kv-value"', "echo s3cret", "echo mine-value", "echo none"}
    # use_none(null) reached StackStorm as its marker and became null in the typed `env` parameter
    assert "env" in children["echo none"]["parameters"] and children["echo none"]["parameters"]["env"] is None
