"""Real StackStorm 3.9: st2mistral's 23 expression functions in a workflow, and {{ st2kv.* }} in a
StackStorm action's parameters rendered by StackStorm itself when the child starts (the tier's
st2mistral-sync reports the children back to Mistral)."""
from __future__ import annotations

import json
from typing import Any, Dict

import pytest
import requests
from expr_pack import DATA, KEYS, assert_every_function_published, output, start_execution

pytestmark = [pytest.mark.st2, pytest.mark.integration]

FINAL = ("succeeded", "failed", "canceled", "timeout", "abandoned")


@pytest.fixture(scope="module")
def st2_keys(st2_stack):
    for name, value, flags in KEYS:
        st2_stack.st2("key", "set", name, value, *flags)
    return st2_stack


def _start(stack: Any, ref: str, parameters: Dict[str, Any]) -> str:
    return start_execution(stack.api_url + "/executions", stack.headers(), ref, parameters)


def test_every_function_in_yaql_jinja_and_filter_form(st2_keys):
    ex_id = _start(st2_keys, "exprtest.functions", DATA)
    assert_every_function_published(st2_keys.wait_for_status(ex_id, ["succeeded", "failed"], timeout=180))


def _children(stack: Any, ex_id: str) -> Dict[str, Dict[str, Any]]:
    resp = requests.get("%s/executions/%s/children?depth=1" % (stack.api_url, ex_id),
                        headers=stack.headers(), timeout=10)
    resp.raise_for_status()
    return {c["parameters"].get("cmd"): c for c in resp.json()}


def test_st2kv_in_action_parameters_is_rendered_by_stackstorm(st2_keys):
    """examples.mistral-jinja-st2kv-system-scope: Mistral passes the Jinja on, StackStorm renders it
    when it creates the child execution; the children's stdout comes back into the workflow."""
    ex_id = _start(st2_keys, "exprtest.kv_params", {})
    doc = st2_keys.wait_for_status(ex_id, FINAL, timeout=180)
    assert doc["status"] == "succeeded", json.dumps(doc.get("result"), indent=1)[:3000]
    out = output(doc)
    assert {k: (out.get(k) or "").strip() for k in ("system", "decrypted", "user")} == {
        "system": "kv-value", "decrypted": "s3cret", "user": "mine-value"}
    children = _children(st2_keys, ex_id)
    stdout = {cmd: (c["status"], (c.get("result") or {}).get("stdout")) for cmd, c in children.items()}
    assert stdout == {'echo "kv-value"': ("succeeded", "kv-value"), "echo s3cret": ("succeeded", "s3cret"),
                      "echo mine-value": ("succeeded", "mine-value"), "echo none": ("succeeded", "none")}
    # use_none(null) reached StackStorm as its marker; StackStorm's cast made `env` (object) null
    assert children["echo none"]["parameters"].get("env") is None
