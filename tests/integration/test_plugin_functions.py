"""All 23 st2mistral expression functions on a REAL Mistral 23, in YAQL, in Jinja and as Jinja filters;
and `{{ st2kv.system.key }}` in StackStorm action parameters, rendered by the host as StackStorm does.

The `exprtest` pack (tests/expr_pack.py) run by the local host (so st2kv reads the host's real
key-value store) publishes every function's value in each form; the test asserts the published
values. Bad input fails the task with the function's own error message.
"""
from __future__ import annotations

import json
from typing import Any, Dict

import pytest
from expr_pack import DATA, KEYS, PACK, PACK_DIR, assert_every_function_published, output, start_execution

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def expr_host(mistral_server, tmp_path_factory, st2_host_class):
    with st2_host_class.serving(tmp_path_factory.mktemp("exprhost"), PACK, mistral_server.url) as host:
        for name, value, flags in KEYS:
            host.st2("key", "set", name, value, *flags)
        yield host


def test_the_fixture_pack_on_disk_is_the_generated_one():
    """The st2 tier registers tests/fixtures/packs/exprtest; it must be what expr_pack generates."""
    on_disk = {str(p.relative_to(PACK_DIR)): p.read_text(encoding="utf-8")
               for p in PACK_DIR.rglob("*") if p.is_file()}
    assert on_disk == PACK, "run: python tests/expr_pack.py"


def _start(host: Any, ref: str, parameters: Dict[str, Any]) -> str:
    return start_execution(host.base_url + "/api/v1/executions", {"St2-Api-Key": host.api_key}, ref, parameters)


def test_every_function_in_yaql_jinja_and_filter_form(expr_host):
    ex_id = _start(expr_host, "exprtest.functions", DATA)
    assert_every_function_published(expr_host.wait(ex_id, ["succeeded", "failed"], timeout=120))


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
    out = output(doc)
    assert {k: (out.get(k) or "").strip() for k in ("system", "decrypted", "user")} == {
        "system": "kv-value", "decrypted": "s3cret", "user": "mine-value"}
    children = {c["parameters"].get("cmd"): c for c in expr_host.children(ex_id)}
    assert set(children) == {'echo "kv-value"', "echo s3cret", "echo mine-value", "echo none"}
    # use_none(null) reached StackStorm as its marker and became null in the typed `env` parameter
    assert "env" in children["echo none"]["parameters"] and children["echo none"]["parameters"]["env"] is None
