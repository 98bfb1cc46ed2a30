"""Unit tests of rules: criteria operators, payload lookup, templates, casting, rule files, webhook routes."""
from __future__ import annotations

import pytest
from host_helpers import hosted, wait_finished
from pack_files import write_files

from mistral_v2.exceptions import ConfigurationError, InvalidParametersError
from st2mistral_local import container as container_mod
from st2mistral_local import rules, runners

PACK = {
    "pack.yaml": "ref: rp\nname: rp\n",
    "actions/say.yaml": ("name: say\nrunner_type: noop\nparameters:\n  word:\n    type: string\n"
                         "  n:\n    type: integer\n  flag:\n    type: boolean\n"),
    "rules/say.yaml": ("name: say\ntrigger:\n  type: core.st2.webhook\n  parameters:\n    url: /hook/\n"
                       "criteria:\n  trigger.body.kind:\n    type: iequals\n    pattern: GO\n"
                       "action:\n  ref: rp.say\n  parameters:\n    word: '{{ trigger.body.word }}'\n"
                       "    n: '{{ trigger.body.n }}'\n    flag: 'true'\n"),
    "rules/off.yaml": ("name: disabled\nenabled: false\ntrigger:\n  type: core.st2.webhook\n"
                       "  parameters:\n    url: hook\naction:\n  ref: rp.say\n"),
    "rules/bad_template.yaml": ("name: bad_template\ntrigger:\n  type: core.st2.webhook\n"
                                "  parameters:\n    url: other\naction:\n  ref: rp.say\n"
                                "  parameters:\n    word: '{{ trigger.body.missing.deeper }}'\n"),
}


@pytest.mark.parametrize("op,value,pattern,expected", [
    ("equals", "a", "a", True), ("equals", "a", "A", False), ("eq", 3, 3, True), ("equals", 3, "3", True),
    ("equals", "a", None, False), ("nequals", "a", "b", True),
    ("iequals", "Deploy", "deploy", True), ("iequals", "x", "y", False), ("iequals", None, "x", False),
    ("contains", "hello world", "lo w", True), ("contains", "hello", "xyz", False), ("contains", None, "x", False),
    ("icontains", "HELLO", "ell", True), ("ncontains", "abc", "z", True),
    ("startswith", "abc", "ab", True), ("endswith", "abc", "bc", True),
    ("regex", "build 42 ok", r"\d+ ok$", True), ("regex", "build ok", r"^\d", False),
    ("iregex", "ABC", "^abc$", True), ("matchregex", "xabc", "abc", False), ("regex", "x", "(", False),
    ("exists", "", None, True), ("exists", None, None, False), ("nexists", None, None, True),
    ("lessthan", "2", 3, True), ("gt", 5, "3", True), ("greaterthan", "x", 3, False),
    ("inside", "b", ["a", "b"], True), ("ninside", "c", ["a", "b"], True),
])
def test_criteria_operators(op, value, pattern, expected):
    assert rules.criterion_matches(op, value, pattern) is expected


def test_unknown_operator_is_a_clear_error():
    with pytest.raises(InvalidParametersError, match='Unknown criteria operator "sortof"'):
        rules.criterion_matches("sortof", "a", "a")


def test_lookup_dotted_paths_lists_and_missing():
    data = {"trigger": {"body": {"a": [{"b": 1}, {"b": 2}], "none": None}}}
    assert rules.lookup(data, "trigger.body.a.1.b") == 2
    assert rules.lookup(data, "trigger.body.a.-1.b") == 2
    assert rules.lookup(data, "trigger.body.a.5.b") is None
    assert rules.lookup(data, "trigger.body.x.y") is None
    assert rules.lookup(data, "trigger.body.none") is None


def test_render_templates_and_strict_undefined():
    ctx = {"trigger": {"body": {"name": "Ada", "things": [1, 2]}}}
    value = {"a": "hi {{ trigger.body.name }}", "b": ["{{ trigger.body.things | length }}"], "c": 5}
    assert rules.render(value, ctx) == {"a": "hi Ada", "b": ["2"], "c": 5}
    assert rules.render("{{ trigger.body.things | to_json_string }}", ctx) == "[1, 2]"
    with pytest.raises(InvalidParametersError, match="Cannot render"):
        rules.render("{{ trigger.body.nope.deeper }}", ctx)


def test_cast_params_by_declared_type():
    schema = {"i": {"type": "integer"}, "f": {"type": "number"}, "b": {"type": "boolean"}, "a": {"type": "array"},
              "o": {"type": "object"}, "s": {"type": "string"}, "bad": {"type": "integer"}}
    out = rules.cast_params(schema, {"i": "4", "f": "1.5", "b": "false", "a": "x, y", "o": '{"k": 1}', "s": "7",
                                     "bad": "seven", "extra": "1"})
    assert out == {"i": 4, "f": 1.5, "b": False, "a": ["x", "y"], "o": {"k": 1}, "s": "7", "bad": "seven", "extra": "1"}
    assert rules.cast_params({"a": {"type": "array"}}, {"a": "[1, 2]"}) == {"a": [1, 2]}


def test_check_rule_lists_every_problem():
    with pytest.raises(ConfigurationError) as err:
        rules.check_rule("p", {"name": "a.b", "pack": "q", "trigger": {"type": "core.st2.IntervalTimer"},
                               "criteria": {"body.x": {"type": "nope"}}, "action": {}}, "p:rules/x.yaml")
    msg = str(err.value)
    for part in ("p:rules/x.yaml", '"name"', '"pack" is "q"', "core.st2.webhook", 'must start with "trigger."',
                 'needs a "type"', '"action.ref"'):
        assert part in msg
    with pytest.raises(ConfigurationError, match="invalid regex"):
        rules.check_rule("p", {"name": "r", "trigger": {"type": "core.st2.webhook", "parameters": {"url": "u"}},
                               "criteria": {"trigger.x": {"type": "regex", "pattern": "("}},
                               "action": {"ref": "p.a"}}, "src")
    with pytest.raises(ConfigurationError, match='criteria "trigger.x": no pattern specified for operator exists'):
        rules.check_rule("p", {"name": "r", "trigger": {"type": "core.st2.webhook", "parameters": {"url": "u"}},
                               "criteria": {"trigger.x": {"type": "exists"}}, "action": {"ref": "p.a"}}, "src")
    with pytest.raises(ConfigurationError, match="trigger.parameters.url"):
        rules.check_rule("p", {"name": "r", "trigger": {"type": "core.st2.webhook"}, "action": {"ref": "p.a"}}, "src")


def test_rule_matches_all_criteria_and_says_why_not():
    rule = rules.check_rule("p", {"name": "r", "trigger": {"type": "core.st2.webhook", "parameters": {"url": "/u/"}},
                                  "criteria": {"trigger.body.kind": {"type": "equals", "pattern": "go"},
                                               "trigger.body.n": {"type": "gt", "pattern": 2}},
                                  "action": {"ref": "p.a"}}, "src")
    assert rule.url == "u" and rule.ref == "p.r"
    assert rules.rule_matches(rule, {"body": {"kind": "go", "n": 3}}) == (True, "")
    ok, why = rules.rule_matches(rule, {"body": {"kind": "go", "n": 1}})
    assert not ok and "trigger.body.n" in why


def test_webhook_payload_drops_credentials():
    payload = rules.webhook_payload({"X-Auth-Token": "t", "St2-Api-Key": "k", "Cookie": "c", "X-Event": "push"},
                                    {"a": 1})
    assert payload == {"headers": {"X-Event": "push"}, "headers_lower": {"x-event": "push"}, "body": {"a": 1}}


def test_load_rules_reports_all_bad_files(tmp_path):
    write_files(tmp_path, {"pack.yaml": "ref: zz\n", "rules/a.yaml": "name: a\n", "rules/b.yaml": "[not: valid",
                      "rules/c.yaml": ("name: c\ntrigger:\n  type: core.st2.webhook\n  parameters:\n    url: u\n"
                                       "action:\n  ref: zz.x\n")})
    with pytest.raises(ConfigurationError) as err:
        rules.load_rules([str(tmp_path)])
    assert "zz:rules/a.yaml" in str(err.value) and "b.yaml is not valid YAML" in str(err.value)


@pytest.fixture
def host(tmp_path, monkeypatch):
    monkeypatch.setattr(container_mod, "get_runner", runners.get_runner)
    with hosted(tmp_path, PACK) as h:
        yield h


def test_webhook_enforces_matching_rule_with_context(client, admin):
    resp = client.post("/api/v1/webhooks/hook", headers=dict(admin, **{"X-Event": "e1"}),
                       json={"kind": "go", "word": "hi", "n": "7"})
    assert resp.status_code == 202 and resp.get_json() == {"kind": "go", "word": "hi", "n": "7"}
    ti = resp.headers["St2-Trigger-Instance-Id"]
    enf = client.get("/api/v1/ruleenforcements?trigger_instance=" + ti, headers=admin).get_json()
    assert len(enf) == 1 and enf[0]["rule"]["ref"] == "rp.say" and enf[0]["status"] == "succeeded"
    doc = wait_finished(client, admin, enf[0]["execution_id"])
    assert doc["status"] == "succeeded"
    assert doc["parameters"] == {"word": "hi", "n": 7, "flag": True}
    ctx = doc["context"]
    assert ctx["trigger_instance"]["id"] == ti and ctx["rule"]["ref"] == "rp.say" and ctx["rule"]["name"] == "say"
    assert ctx["rule"]["id"] and ctx["user"] == "stanley"
    inst = client.get("/api/v1/triggerinstances/" + ti, headers=admin).get_json()
    assert inst["payload"]["headers"]["X-Event"] == "e1" and "X-Auth-Token" not in inst["payload"]["headers"]


def test_webhook_without_match_unknown_hook_bad_body_and_render_failure(client, admin):
    resp = client.post("/api/v1/webhooks/hook", headers=admin, json={"kind": "stop"})
    assert resp.status_code == 202
    assert client.get("/api/v1/ruleenforcements?trigger_instance=" + resp.headers["St2-Trigger-Instance-Id"],
                      headers=admin).get_json() == []
    resp = client.post("/api/v1/webhooks/unknown", headers=admin, json={})
    assert resp.status_code == 404 and resp.get_json()["faultstring"] == "Webhook unknown not registered with st2"
    resp = client.post("/api/v1/webhooks/hook", headers=dict(admin, **{"Content-Type": "application/json"}),
                       data="{nope")
    assert resp.status_code == 400 and "not valid JSON" in resp.get_json()["faultstring"]
    resp = client.post("/api/v1/webhooks/other", headers=admin, json={"body": 1})
    enf = client.get("/api/v1/ruleenforcements?trigger_instance=" + resp.headers["St2-Trigger-Instance-Id"],
                     headers=admin).get_json()
    assert enf[0]["status"] == "failed" and "Cannot render" in enf[0]["failure_reason"]
    assert enf[0]["execution_id"] is None
    assert client.post("/api/v1/webhooks/hook", json={}).status_code == 401


def test_rules_listing(client, admin):
    listed = client.get("/api/v1/rules?pack=rp", headers=admin).get_json()
    assert sorted(r["ref"] for r in listed) == ["rp.bad_template", "rp.disabled", "rp.say"]
    one = client.get("/api/v1/rules/rp.disabled", headers=admin).get_json()
    assert one["enabled"] is False and one["trigger"]["type"] == "core.st2.webhook"
    assert client.get("/api/v1/rules/rp.nope", headers=admin).status_code == 404
    hooks = client.get("/api/v1/webhooks", headers=admin).get_json()
    assert {"type": "core.st2.webhook", "parameters": {"url": "hook"}} in hooks
