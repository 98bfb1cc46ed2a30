"""Unit tests of action aliases: format parsing, matching, loading, replies and the alias routes."""
from __future__ import annotations

import time

import pytest
from host_helpers import admin_login, start_host
from pack_files import write_files

from mistral_v2.exceptions import ConfigurationError, InvalidParametersError
from st2mistral_local import aliases, runners
from st2mistral_local import container as container_mod
from st2mistral_local.api import create_app

PACK = {
    "pack.yaml": "ref: ap\nname: ap\n",
    "actions/say.yaml": ("name: say\nrunner_type: local-shell-cmd\nparameters:\n  word:\n    type: string\n"
                         "    required: true\n  times:\n    type: integer\n    default: 1\n"
                         "  cmd:\n    type: string\n    immutable: true\n    default: 'echo {{word}} {{times}}'\n"),
    "aliases/say.yaml": ("name: say\naction_ref: ap.say\nformats:\n  - 'say {{word}} {{times=2}} times'\n"
                         "  - display: 'shout <word>'\n    representation: ['shout {{word}}']\n"
                         "ack:\n  format: 'ok {{ execution.parameters.word }} via {{ actionalias.ref }}'\n"
                         "result:\n  format: 'said: {{ execution.result.stdout }}'\n"),
    "aliases/quiet.yaml": "name: quiet\naction_ref: ap.say\nenabled: false\nformats: ['whisper {{word}}']\n",
}


@pytest.mark.parametrize("fmt,command,expected", [
    ("run {{wf}}", "run demo", {"wf": "demo"}),
    ("run {{wf}}", "  run   demo  ", {"wf": "demo"}),
    ("run {{wf}}", "run", None),
    ("run {{wf}}", "walk demo", None),
    ("run {{cmd}}", "run ls -la /tmp", {"cmd": "ls -la /tmp"}),
    ("greet {{name=world}} now", "greet now", {"name": "world"}),
    ("greet {{name=world}} now", "greet Ada now", {"name": "Ada"}),
    ("greet {{name='big world'}}", "greet", {"name": "big world"}),
    ("greet {{ name }}", "greet \"Ada Lovelace\"", {"name": "Ada Lovelace"}),
    ("greet {{name}}", "greet 'Ada L'", {"name": "Ada L"}),
    ("set {{data}}", 'set {"a": {"b": 1}}', {"data": '{"a": {"b": 1}}'}),
    ("deploy {{app}} to {{env=prod}}", "deploy web to staging", {"app": "web", "env": "staging"}),
    ("deploy {{app}} to {{env=prod}}", "deploy web to", {"app": "web", "env": "prod"}),
    ("double {{count}}", "double 21 extra=yes mode='fast one'", {"count": "21", "extra": "yes", "mode": "fast one"}),
    ("assign {{kv}}", "assign a=b", {"kv": "a=b"}),
    ("Run {{x}}.", "Run it.", {"x": "it"}),
    ("Run {{x}}.", "Run itX", None),
])
def test_extract(fmt, command, expected):
    assert aliases.extract(fmt, command) == expected


def test_format_with_a_parameter_twice_is_refused():
    with pytest.raises(InvalidParametersError, match='names parameter "a" twice'):
        aliases.compile_format("{{a}} and {{a}}")


def test_representations_of_both_format_styles():
    assert aliases.representations("run {{x}}") == ("run {{x}}", ["run {{x}}"])
    assert aliases.representations({"display": "run <x>", "representation": ["run {{x}}", "go {{x}}"]}) == \
        ("run <x>", ["run {{x}}", "go {{x}}"])
    with pytest.raises(InvalidParametersError):
        aliases.representations(5)


def _alias(name, formats, enabled=True):
    return aliases.check_alias("p", {"name": name, "action_ref": "p.a", "formats": formats, "enabled": enabled}, "src")


def test_match_command_unique_none_ambiguous_and_disabled():
    aa = [_alias("one", ["run {{wf}}"]), _alias("two", ["stop {{wf}}"]), _alias("off", ["halt {{wf}}"], False)]
    alias, display, rep = aliases.match_command(aa, "run demo")
    assert alias.name == "one" and rep == "run {{wf}}"
    with pytest.raises(InvalidParametersError, match="matched no patterns"):
        aliases.match_command(aa, "halt demo")
    with pytest.raises(InvalidParametersError, match="matched more than 1 pattern"):
        aliases.match_command(aa + [_alias("three", ["run {{a}}"])], "run x")
    with pytest.raises(InvalidParametersError, match='"command"'):
        aliases.match_command(aa, "  ")


def test_check_alias_and_load_report_every_problem(tmp_path):
    with pytest.raises(ConfigurationError) as err:
        aliases.check_alias("p", {"name": "", "action_ref": "nodot", "formats": [], "ack": "x"}, "p:aliases/x.yaml")
    for part in ('"name"', '"action_ref"', '"formats"', '"ack" must be a mapping'):
        assert part in str(err.value)
    (tmp_path / "aliases").mkdir()
    (tmp_path / "pack.yaml").write_text("ref: zz\n")
    (tmp_path / "aliases/a.yaml").write_text("name: a\naction_ref: zz.x\nformats: ['a {{x}}']\n")
    (tmp_path / "aliases/b.yaml").write_text("name: a\naction_ref: zz.x\nformats: ['b {{x}}']\n")
    (tmp_path / "aliases/c.yaml").write_text(": : bad")
    with pytest.raises(ConfigurationError) as err:
        aliases.load_aliases([str(tmp_path)])
    assert 'alias name "a" is used twice' in str(err.value) and "c.yaml is not valid YAML" in str(err.value)


def test_reply_for_pending_done_disabled_and_broken_template():
    alias = aliases.check_alias("p", {"name": "n", "action_ref": "p.a", "formats": ["x"],
                                      "result": {"format": "got {{ execution.result.v }}"}}, "src")
    result = {"v": 42, "extra": {"state": "SUCCESS", "state_info": None}, "tasks": []}
    done = {"id": "e1", "status": "succeeded", "result": result, "action": {"ref": "p.a"},
            "context": {"action_alias_ref": {"id": alias.id, "name": "n"}}}
    assert aliases.reply_for(alias, dict(done, status="running"))["message"] is None
    reply = aliases.reply_for(alias, done)
    assert reply["completed"] and reply["message"] == "got 42"
    assert reply["action_alias_ref"] == {"id": alias.id, "name": "n"}
    alias.result = {"enabled": False}
    assert aliases.reply_for(alias, done)["message"] is None
    alias.result = {"format": "{{ execution.nothing.here }}"}
    assert aliases.reply_for(alias, done)["message"].startswith("Cannot render the message")
    assert aliases.reply_for(None, done)["message"] == 'p.a succeeded: {"v": 42}'


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setattr(container_mod, "get_runner", runners.get_runner)
    h = start_host(tmp_path, write_files(tmp_path / "pack", PACK))
    c = create_app(h).test_client()
    c.auth = {"X-Auth-Token": admin_login(c, h, {}).get_json()["token"]}
    yield c
    h.stop()


def _wait(client, ex_id):
    deadline = time.monotonic() + 20
    while True:
        doc = client.get("/api/v1/executions/" + ex_id, headers=client.auth).get_json()
        if doc["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return doc
        time.sleep(0.05)


def test_alias_routes_match_execute_and_reply(client):
    listed = client.get("/api/v1/actionalias?pack=ap", headers=client.auth).get_json()
    assert sorted(a["ref"] for a in listed) == ["ap.quiet", "ap.say"]
    m = client.post("/api/v1/actionalias/match", headers=client.auth, json={"command": "shout hey"}).get_json()
    assert m["actionalias"]["ref"] == "ap.say" and m["display"] == "shout <word>"
    assert m["representation"] == "shout {{word}}"
    resp = client.post("/api/v1/aliasexecution/match_and_execute", headers=client.auth,
                       json={"command": "say hello 3 times", "user": "bob", "source_channel": "#ops"})
    assert resp.status_code == 201
    result = resp.get_json()["results"][0]
    assert result["message"] == "ok hello via ap.say" and result["actionalias"]["ref"] == "ap.say"
    ex_id = result["execution"]["id"]
    doc = _wait(client, ex_id)
    assert doc["status"] == "succeeded" and doc["parameters"]["times"] == 3
    assert doc["context"]["user"] == "st2admin" and doc["context"]["api_user"] == "bob"
    say = client.get("/api/v1/actionalias/ap.say", headers=client.auth).get_json()
    assert doc["context"]["source_channel"] == "#ops"
    assert doc["context"]["action_alias_ref"] == {"id": say["id"], "name": "say"}  # as StackStorm 3.9 stores it
    reply = client.get("/api/v1/aliasexecution/%s/reply" % ex_id, headers=client.auth).get_json()
    assert reply["completed"] and reply["message"] == "said: hello 3"


def test_alias_execution_errors(client):
    post = lambda body: client.post("/api/v1/aliasexecution", headers=client.auth, json=body)  # noqa: E731
    assert post({"name": "nope", "command": "x"}).status_code == 404
    resp = post({"name": "quiet", "command": "whisper x"})
    assert resp.status_code == 400 and "disabled" in resp.get_json()["faultstring"]
    resp = post({"name": "say", "command": "dance"})
    assert resp.status_code == 400 and "matches no format of alias ap.say" in resp.get_json()["faultstring"]
    resp = post({"name": "say", "command": ""})
    assert resp.status_code == 400
    resp = post({"command": "say hi 3 times", "name": "say", "format": "shout {{word}}"})
    assert resp.status_code == 400 and "doesn't match format" in resp.get_json()["faultstring"]
    ok = post({"name": "say", "command": "say hi times"})
    assert ok.status_code == 201 and ok.get_json()["execution"]["parameters"]["times"] == 2
    resp = client.post("/api/v1/aliasexecution/match_and_execute", headers=client.auth, json={"command": "whisper x"})
    assert resp.status_code == 400 and "matched no patterns" in resp.get_json()["faultstring"]
    ex = client.post("/api/v1/executions", headers=client.auth, json={"action": "core.noop"}).get_json()
    resp = client.get("/api/v1/aliasexecution/%s/reply" % ex["id"], headers=client.auth)
    assert resp.status_code == 400 and "not started by an action alias" in resp.get_json()["faultstring"]
