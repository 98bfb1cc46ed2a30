"""The `exprtest` pack (tests/fixtures/packs/exprtest): workflows using st2mistral's 23 expression
functions in YAQL, Jinja and Jinja-filter form, and st2kv in StackStorm action parameters; shared by
the integration (local host) and st2 (real StackStorm) tiers. `python tests/expr_pack.py` rewrites it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import requests
import yaml

PACK_DIR = Path(__file__).resolve().parent / "fixtures" / "packs" / "exprtest"
# st2 key set ... (name, value, extra CLI flags) that the workflows read.
KEYS = [("exprtest_key", "kv-value", []), ("exprtest_secret", "s3cret", ["--encrypt"]),
        ("exprtest_mine", "mine-value", ["--scope", "user"])]

DATA = {
    "j": '{"a": [1, {"b": "\u00fc"}]}',
    "y": "a: [1, 2]\nb: \u00fc\n",
    "o": {"k": [1, 2], "n": {"x": "y"}},
    "s": 'say "hi"\n',
    "addr": "You are at 567 Elsewhere Dr. Im at 123 Foo Ave.",
    "secs": 12345,
    "v": "1.0.0-rc.1",
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


def functions_workflow() -> str:
    publish = {"%s_%s" % (form, name): _call(name, args, kwargs, form)
               for name, args, kwargs, _ in CASES for form in FORMS}
    wf = {"version": "2.0", "exprtest.functions": {
        "input": list(DATA) + [{"nothing": None}],   # null by default: use_none's input
        "tasks": {"evaluate": {"action": "std.noop", "publish": publish}},
        "output": {key: "<%% $.%s %%>" % key for key in publish},
    }}
    return yaml.safe_dump(wf, default_flow_style=False, allow_unicode=True)


def bad_workflow() -> str:
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


# Four StackStorm actions in parallel, each reading the datastore in its parameters.
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
    decrypted:
      action: core.local cmd="echo {{ st2kv.system.exprtest_secret | decrypt_kv }}"
      publish:
        decrypted: <% task(decrypted).result.stdout %>
    user:
      action: st2.action
      input:
        ref: core.local
        parameters:
          cmd: "echo {{ st2kv.user.exprtest_mine }}"
      publish:
        user: <% task(user).result.stdout %>
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

PACK: Dict[str, str] = {
    "pack.yaml": ("ref: exprtest\nname: exprtest\ndescription: st2mistral expression functions\n"
                  "version: 0.1.0\nauthor: st2-mistral\nemail: st2-mistral@example.invalid\n"),
    "actions/functions.yaml": (
        "name: functions\nrunner_type: mistral-v2\nentry_point: workflows/functions.yaml\n"
        "parameters:\n" + "".join("  %s:\n    type: %s\n" % (k, t) for k, t in (
            ("j", "string"), ("y", "string"), ("o", "object"), ("s", "string"), ("addr", "string"),
            ("secs", "integer"), ("v", "string")))),
    "actions/workflows/functions.yaml": functions_workflow(),
    "actions/bad.yaml": (
        "name: bad\nrunner_type: mistral-v2\nentry_point: workflows/bad.yaml\n"
        "parameters:\n  v:\n    type: string\n  language:\n    type: string\n"),
    "actions/workflows/bad.yaml": bad_workflow(),
    "actions/kv_params.yaml": "name: kv_params\nrunner_type: mistral-v2\nentry_point: workflows/kv_params.yaml\n",
    "actions/workflows/kv_params.yaml": KV_PARAMS_WORKFLOW,
}


def expected_outputs() -> Dict[str, Any]:
    """The `exprtest.functions` output for DATA: '<form>_<function>' -> value."""
    return {"%s_%s" % (form, name): expected for name, _, _, expected in CASES for form in FORMS}


def start_execution(executions_url: str, headers: Dict[str, str], ref: str, parameters: Dict[str, Any]) -> str:
    """POST an execution of `ref` to a StackStorm(-compatible) API; its id."""
    resp = requests.post(executions_url, headers=headers, json={"action": ref, "parameters": parameters}, timeout=30)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def output(doc: Dict[str, Any]) -> Dict[str, Any]:
    """The workflow output in an execution document (result.output, else the result itself)."""
    result = doc.get("result") or {}
    return result.get("output", result)


def assert_every_function_published(doc: Dict[str, Any]) -> None:
    """The finished `exprtest.functions` execution succeeded and published every expected value."""
    assert doc["status"] == "succeeded", json.dumps(doc.get("result"), indent=1)[:3000]
    out = output(doc)
    wrong = {key: out.get(key, "<missing>") for key, expected in expected_outputs().items()
             if out.get(key) != expected}
    assert not wrong, wrong
    assert len(CASES) == 23 and len({c[0] for c in CASES}) == 23 and len(expected_outputs()) == 23 * len(FORMS)


def write(root: Path = PACK_DIR) -> None:
    """Write the pack files under `root`."""
    for rel, text in PACK.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write()
