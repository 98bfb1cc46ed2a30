"""Webhook -> rule -> Mistral workflow, `st2 action-alias execute` -> workflow -> reply text, and the
`st2-mistral` CLI (tree, context, resume-next, rerun-check) on a real host over real Mistral."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict

import pytest
import requests
from result_shape import output_of

pytestmark = pytest.mark.integration

ENV_PARENT = "env().get('__actions').get('st2.action').st2_context.parent"

PACK = {
    "pack.yaml": "ref: rulestest\nname: rulestest\ndescription: rules and aliases tests\nversion: 0.1.0\n",
    "actions/context.yaml": (
        "name: context\nrunner_type: mistral-v2\nentry_point: workflows/context.yaml\n"
        "parameters:\n  word:\n    type: string\n    required: true\n  count:\n    type: integer\n    default: 1\n"),
    "actions/workflows/context.yaml": (
        "version: '2.0'\nrulestest.context:\n  input:\n    - word\n    - count\n  output:\n"
        "    word: <% $.word %>\n    count: <% $.count %>\n"
        f"    user: <% {ENV_PARENT}.get('user') %>\n"
        f"    trigger_instance: <% {ENV_PARENT}.get('trigger_instance') %>\n"
        f"    rule: <% {ENV_PARENT}.get('rule') %>\n"
        f"    channel: <% {ENV_PARENT}.get('source_channel') %>\n"
        f"    alias: <% {ENV_PARENT}.get('action_alias_ref') %>\n"
        f"    api_user: <% {ENV_PARENT}.get('api_user') %>\n"
        "  tasks:\n    noop:\n      action: std.noop\n"),
    "actions/nested.yaml": (
        "name: nested\nrunner_type: mistral-v2\nentry_point: workflows/nested.yaml\n"
        "parameters:\n  workflow:\n    type: string\n    default: rulestest.nested.main\n    immutable: true\n"),
    "actions/workflows/nested.yaml": (
        "version: '2.0'\nname: rulestest.nested\nworkflows:\n"
        "  main:\n    tasks:\n      outer:\n        workflow: inner\n        on-success: [call_st2]\n"
        "      call_st2:\n        action: core.local\n        input:\n          cmd: echo from-main\n"
        "        on-success: [child_wf]\n"
        "      child_wf:\n        action: rulestest.context\n        input:\n          word: nested\n"
        "  inner:\n    tasks:\n      deep:\n        action: std.echo\n        input:\n          output: deep\n"),
    "actions/failing.yaml": (
        "name: failing\nrunner_type: mistral-v2\nentry_point: workflows/failing.yaml\nparameters: {}\n"),
    "actions/workflows/failing.yaml": (
        "version: '2.0'\nrulestest.failing:\n  output:\n    tail: <% $.tail %>\n  tasks:\n"
        "    t1:\n      action: std.echo\n      input:\n        output: hello\n"
        "      publish:\n        g: <% task().result %>\n"
        "      on-success: [t2]\n"
        "    t2:\n      action: std.test_dict\n      input:\n        size: broken\n        key_prefix: a\n"
        "        val: <% $.g %>\n      publish:\n        r2: <% task().result %>\n      on-success: [t3]\n"
        "    t3:\n      action: std.echo\n      input:\n        output: <% $.r2 %>\n"
        "      publish:\n        tail: <% task().result %>\n"),
    "rules/on_ctx.yaml": (
        "name: on_ctx\npack: rulestest\ntrigger:\n  type: core.st2.webhook\n  parameters:\n    url: ctx\n"
        "criteria:\n  trigger.body.kind:\n    type: equals\n    pattern: go\n"
        "  trigger.body.msg:\n    type: regex\n    pattern: '^hello'\n"
        "action:\n  ref: rulestest.context\n  parameters:\n    word: '{{ trigger.body.msg }}'\n"
        "    count: '{{ trigger.body.n }}'\n"),
    "rules/never.yaml": (
        "name: never\ntrigger:\n  type: core.st2.webhook\n  parameters:\n    url: ctx\n"
        "criteria:\n  trigger.body.kind:\n    type: equals\n    pattern: never\n"
        "action:\n  ref: rulestest.context\n  parameters:\n    word: never\n"),
    "aliases/ctx.yaml": (
        "name: ctx\naction_ref: rulestest.context\nformats:\n  - 'ctx {{word}} times {{count=2}}'\n"
        "ack:\n  format: 'running {{ execution.parameters.word }}'\n"
        "result:\n  format: 'word={{ execution.result.word }} count={{ execution.result.count }}"
        " channel={{ execution.result.channel }}'\n"),
}


def _headers(host) -> Dict[str, str]:
    return {"St2-Api-Key": host.api_key}


def _post(host, path: str, body: Any) -> requests.Response:
    return requests.post(host.base_url + "/api/v1/" + path, json=body, headers=_headers(host), timeout=30)


def _st2_mistral(host, *args: str) -> subprocess.CompletedProcess:
    exe = os.path.join(os.path.dirname(sys.executable), "st2-mistral")
    return subprocess.run([exe, *args], capture_output=True, text=True, env=host.env(), timeout=120)


def test_webhook_runs_matching_rule_and_workflow_sees_trigger_and_rule(host):
    resp = _post(host, "webhooks/ctx", {"kind": "go", "msg": "hello there", "n": "3"})
    assert resp.status_code == 202
    assert resp.json() == {"kind": "go", "msg": "hello there", "n": "3"}
    ti = resp.headers["St2-Trigger-Instance-Id"]
    enf = requests.get(host.base_url + "/api/v1/ruleenforcements?trigger_instance=" + ti,
                       headers=_headers(host), timeout=10).json()
    assert [e["rule"]["ref"] for e in enf] == ["rulestest.on_ctx"] and enf[0]["status"] == "succeeded"
    doc = host.wait(enf[0]["execution_id"], ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert doc["parameters"] == {"word": "hello there", "count": 3}
    out = output_of(doc["result"])
    assert out["word"] == "hello there" and out["count"] == 3
    assert out["trigger_instance"]["id"] == ti
    assert out["rule"]["ref"] == "rulestest.on_ctx" and out["rule"]["name"] == "on_ctx" and out["rule"]["id"]
    assert out["user"] == "stanley"
    instance = requests.get(host.base_url + "/api/v1/triggerinstances/" + ti, headers=_headers(host), timeout=10).json()
    assert instance["payload"]["body"]["msg"] == "hello there" and instance["status"] == "processed"
    assert "st2-api-key" not in instance["payload"]["headers_lower"]


def test_webhook_not_matching_runs_nothing_and_unknown_hook_is_404(host):
    resp = _post(host, "webhooks/ctx", {"kind": "go", "msg": "bye"})
    assert resp.status_code == 202
    enf = requests.get(host.base_url + "/api/v1/ruleenforcements?trigger_instance=" +
                       resp.headers["St2-Trigger-Instance-Id"], headers=_headers(host), timeout=10).json()
    assert enf == []
    missing = _post(host, "webhooks/nope", {})
    assert missing.status_code == 404 and "nope" in missing.json()["faultstring"]
    unauth = requests.post(host.base_url + "/api/v1/webhooks/ctx", json={}, timeout=10)
    assert unauth.status_code == 401


def test_st2_action_alias_execute_runs_workflow_and_reply_is_rendered(host):
    match = host.st2_json("action-alias", "match", "ctx banana times 4")
    assert match[0]["name"] == "ctx"
    out = host.st2("action-alias", "execute", "ctx banana times 4").stdout
    assert "Matching Action-alias: 'rulestest.ctx'" in out
    ex_id = out.split("st2 execution get ")[1].split()[0]
    doc = host.wait(ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    ctx = doc["context"]
    alias_id = host.st2_json("action-alias", "get", "rulestest.ctx")["id"]
    alias_ref = {"id": alias_id, "name": "ctx"}  # as StackStorm 3.9 stores it (get_ref_from_model)
    assert ctx["action_alias_ref"] == alias_ref and ctx["source_channel"] == "cli" and ctx["user"] == "st2admin"
    result = output_of(doc["result"])
    assert result["word"] == "banana" and result["count"] == 4
    assert result["channel"] == "cli" and result["alias"] == alias_ref and result["user"] == "st2admin"
    reply = _st2_mistral(host, "reply", ex_id)
    assert reply.returncode == 0, reply.stderr
    assert reply.stdout.strip() == "word=banana count=4 channel=cli"


def test_alias_execution_api_with_default_and_chat_context(host):
    resp = _post(host, "aliasexecution", {"name": "ctx", "format": "ctx {{word}} times {{count=2}}",
                                          "command": "ctx kiwi times", "user": "alice", "source_channel": "#ops",
                                          "notification_route": "slack"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["message"] == "running kiwi"
    doc = host.wait(body["execution"]["id"], ["succeeded", "failed"])
    assert doc["parameters"] == {"word": "kiwi", "count": 2}
    out = output_of(doc["result"])
    assert out["channel"] == "#ops" and out["api_user"] == "alice" and out["user"] == "st2admin"
    bad = _post(host, "aliasexecution/match_and_execute", {"command": "nothing like it", "source_channel": "x"})
    assert bad.status_code == 400 and "matched no patterns" in bad.json()["faultstring"]


def test_st2_mistral_tree_of_workbook_with_nested_st2_child(host):
    ex_id = host.run_async("rulestest.nested")
    doc = host.wait(ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded", [(t["name"], t["state"], t["state_info"]) for t in doc["result"]["tasks"]]
    proc = _st2_mistral(host, "tree", ex_id)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "rulestest.nested succeeded (%s)" % ex_id
    text = proc.stdout
    for shown in ("workflow rulestest.nested.main [SUCCESS]", "outer [SUCCESS]",
                  "workflow rulestest.nested.inner [SUCCESS]", "deep [SUCCESS]", "call_st2 [SUCCESS]",
                  "core.local succeeded", "child_wf [SUCCESS]",
                  "rulestest.context succeeded", "workflow rulestest.context [SUCCESS]", "noop [SUCCESS]"):
        assert shown in text, text
    # indentation follows nesting
    def depth(part: str) -> int:
        line = next(ln for ln in lines if part in ln)
        return len(line) - len(line.lstrip("│├└─ "))
    assert depth("outer [") < depth("workflow rulestest.nested.inner") < depth("deep [")
    assert depth("child_wf [") < depth("rulestest.context succeeded") < depth("workflow rulestest.context") \
        < depth("noop [")
    tree = json.loads(_st2_mistral(host, "--json", "tree", ex_id).stdout)
    tasks = {t["name"]: t for t in tree["workflow"]["tasks"]}
    assert tasks["outer"]["workflows"][0]["tasks"][0]["name"] == "deep"
    child = tasks["call_st2"]["executions"][0]
    assert child["action"] == "core.local" and child["status"] == "succeeded" and child["id"] in doc["children"]
    assert tasks["child_wf"]["executions"][0]["workflow"]["tasks"][0]["name"] == "noop"


def test_st2_mistral_context_rerun_check_and_resume_next(host):
    ex_id = host.run_async("rulestest.failing")
    host.wait(ex_id, ["failed"])
    ctx = _st2_mistral(host, "context", ex_id, "t2")
    assert ctx.returncode == 0, ctx.stderr
    assert "task t2 [ERROR]" in ctx.stdout and "g: hello" in ctx.stdout
    # the execution's token is scrubbed from Mistral once the workflow is final (security): where a
    # token line is still shown it is masked, never in clear
    token_lines = [ln for ln in ctx.stdout.splitlines() if "auth_token" in ln]
    assert all(ln.strip().endswith("'********'") for ln in token_lines), token_lines
    assert _st2_mistral(host, "context", ex_id, "zzz").returncode == 1

    check = _st2_mistral(host, "rerun-check", ex_id, "--tasks", "t1", "t2")
    assert check.returncode == 1 and check.stdout.startswith("REFUSED")
    assert "t1" in check.stdout and "SUCCESS" in check.stdout
    ok = _st2_mistral(host, "rerun-check", ex_id, "--tasks", "t2")
    assert ok.returncode == 0 and ok.stdout.startswith("OK"), ok.stdout + ok.stderr
    no_reset = _st2_mistral(host, "rerun-check", ex_id, "--tasks", "t2", "--no-reset", "t2")
    assert no_reset.returncode == 1 and "not a with-items task" in no_reset.stdout

    refused = _st2_mistral(host, "resume-next", ex_id, "--tasks", "t2")
    assert refused.returncode == 1
    assert "Missing requirements:" in refused.stdout and "t2: r2" in refused.stdout
    resumed = _st2_mistral(host, "resume-next", ex_id, "--tasks", "t2", "-p", "r2=supplied")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    new_id = resumed.stdout.split("st2 execution get ")[1].split()[0]
    doc = host.wait(new_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert doc["result"]["tail"] == "supplied"
    tree = _st2_mistral(host, "tree", new_id).stdout
    assert "t1 [SUCCESS]" in tree and "t2 [SKIPPED]" in tree and "t3 [SUCCESS]" in tree, tree


def test_st2_cli_lists_rules_aliases_and_trigger_instances(host):
    rules = {r["ref"]: r for r in host.st2_json("rule", "list")}
    assert {"rulestest.on_ctx", "rulestest.never", "mistral_examples.greet_on_webhook"} <= set(rules)
    assert rules["rulestest.on_ctx"]["enabled"] is True
    one = host.st2_json("rule", "get", "rulestest.on_ctx")
    assert one["action"]["ref"] == "rulestest.context" and one["trigger"]["parameters"] == {"url": "ctx"}
    aliases = {a["ref"] for a in host.st2_json("action-alias", "list")}
    assert {"rulestest.ctx", "mistral_examples.greet", "mistral_examples.double"} <= aliases
    resp = _post(host, "webhooks/ctx", {"kind": "listing"})
    instances = host.st2_json("trigger-instance", "list")
    assert resp.headers["St2-Trigger-Instance-Id"] in [i["id"] for i in instances]


def test_example_pack_rule_and_alias_on_mistral_examples(host):
    resp = _post(host, "webhooks/greet", {"event": "DEPLOY", "name": "Ada"})
    enf = requests.get(host.base_url + "/api/v1/ruleenforcements?trigger_instance=" +
                       resp.headers["St2-Trigger-Instance-Id"], headers=_headers(host), timeout=10).json()
    assert [e["rule"]["ref"] for e in enf] == ["mistral_examples.greet_on_webhook"]
    doc = host.wait(enf[0]["execution_id"], ["succeeded", "failed"])
    assert doc["status"] == "succeeded" and doc["result"]["greeting"] == "Hello, Ada!"
    out = host.st2("action-alias", "execute", "double 21").stdout
    ex_id = out.split("st2 execution get ")[1].split()[0]
    host.wait(ex_id, ["succeeded", "failed"])
    reply = _st2_mistral(host, "reply", ex_id)
    assert reply.stdout.strip() == "21 doubled is 42", reply.stdout + reply.stderr


def test_st2_mistral_logs_in_with_st2_config_credentials(host, tmp_path):
    ex_id = host.run_async("rulestest.context", "word=cfg")
    host.wait(ex_id, ["succeeded"])
    conf = tmp_path / "st2.conf"
    conf.write_text("[credentials]\nusername = st2admin\npassword = %s\n[cli]\ncache_token = False\n"
                    % host.password())
    exe = os.path.join(os.path.dirname(sys.executable), "st2-mistral")
    env = host.env(ST2_API_KEY=None, ST2_CONFIG_FILE=str(conf))
    proc = subprocess.run([exe, "tree", ex_id], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("rulestest.context succeeded (%s)" % ex_id)
    conf.write_text("[credentials]\nusername = st2admin\npassword = wrong\n[cli]\ncache_token = False\n")
    proc = subprocess.run([exe, "tree", ex_id], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1 and "cannot log in with the credentials of the st2 CLI config" in proc.stderr
    assert "Unauthorized" in proc.stderr and "Traceback" not in proc.stderr
    assert "wrong" not in proc.stdout + proc.stderr
