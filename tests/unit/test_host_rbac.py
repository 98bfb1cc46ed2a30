"""The host's rules of who may do what (StackStorm's RBAC rules): API keys, impersonation, key-value
scopes; `core.local`'s clean environment; private files (issue 17)."""
from __future__ import annotations

import os
import stat

import pytest
import yaml
from host_helpers import hosted, wait_finished

from st2mistral_local import auth

PACK = {"pack.yaml": "ref: tp\nname: tp\n"}


@pytest.fixture
def host(tmp_path):
    with hosted(tmp_path, PACK) as h:
        with open(h.users_path) as fh:
            users = yaml.safe_load(fh)
        for name in ("alice", "bob", "carol"):
            salt = "00" * 16
            users["users"][name] = {"salt": salt, "password_hash": auth._password_hash(name + "-pw", salt)}  # noqa: SLF001
        users["users"]["carol"]["roles"] = ["admin"]
        with open(h.users_path, "w") as fh:
            yaml.safe_dump(users, fh)
        yield h


def _login(host, user):
    return {"X-Auth-Token": host.auth.issue_token(user)["token"]}


def test_api_keys_users_manage_their_own_admins_anyone_s(host, client, admin):
    alice, bob = _login(host, "alice"), _login(host, "bob")
    own = client.post("/api/v1/apikeys", headers=alice, json={})
    assert own.status_code == 201 and own.get_json()["user"] == "alice"
    same = client.post("/api/v1/apikeys", headers=alice, json={"user": "alice"})
    assert same.status_code == 201
    forged = client.post("/api/v1/apikeys", headers=alice, json={"user": "bob"})
    assert forged.status_code == 403 and "admins" in forged.get_json()["faultstring"]
    for_bob = client.post("/api/v1/apikeys", headers=admin, json={"user": "bob"})
    assert for_bob.status_code == 201 and for_bob.get_json()["user"] == "bob"

    mine = client.get("/api/v1/apikeys", headers=alice).get_json()
    assert {k["user"] for k in mine} == {"alice"} and len(mine) == 2
    assert client.get("/api/v1/apikeys?user=bob", headers=alice).status_code == 403
    assert {k["user"] for k in client.get("/api/v1/apikeys?user=bob", headers=admin).get_json()} == {"bob"}
    assert {"alice", "bob"} <= {k["user"] for k in client.get("/api/v1/apikeys", headers=admin).get_json()}

    bobs_id = for_bob.get_json()["id"]
    assert client.get("/api/v1/apikeys/" + bobs_id, headers=alice).status_code == 404  # not even shown
    assert client.delete("/api/v1/apikeys/" + bobs_id, headers=alice).status_code == 404
    assert client.delete("/api/v1/apikeys/" + bobs_id, headers=bob).status_code == 204
    revoked = client.get("/api/v1/actions", headers={"St2-Api-Key": for_bob.get_json()["key"]})
    assert revoked.status_code == 401
    carol = _login(host, "carol")  # admin role from the users file
    assert client.post("/api/v1/apikeys", headers=carol, json={"user": "alice"}).status_code == 201
    assert not host.auth.is_admin("alice") and host.auth.is_admin("carol") and host.auth.is_admin("st2admin")
    alices_id = own.get_json()["id"]
    assert client.delete("/api/v1/apikeys/" + alices_id, headers=admin).status_code == 204


def test_no_impersonation_user_and_context_user_only_for_admins(host, client, admin):
    alice = _login(host, "alice")
    refused = client.post("/api/v1/executions", headers=alice, json={"action": "core.noop", "user": "st2admin"})
    assert refused.status_code == 403 and "alice" in refused.get_json()["faultstring"]
    sneaky = client.post("/api/v1/executions", headers=alice,
                         json={"action": "core.noop", "context": {"user": "st2admin"}})
    assert sneaky.status_code == 201
    assert sneaky.get_json()["context"]["user"] == "alice"  # context.user is never believed
    as_bob = client.post("/api/v1/executions", headers=admin, json={"action": "core.noop", "user": "bob"})
    assert as_bob.status_code == 201 and as_bob.get_json()["context"]["user"] == "bob"
    done = wait_finished(client, admin, sneaky.get_json()["id"])
    rerun = client.post("/api/v1/executions/%s/re_run" % done["id"], headers=alice, json={"user": "bob"})
    assert rerun.status_code == 403


def test_key_value_user_scope_is_the_user_s_own_unless_admin(host, client, admin):
    alice, bob = _login(host, "alice"), _login(host, "bob")
    for who, value in ((alice, "a"), (bob, "b")):
        body = {"name": "k", "value": value, "scope": "user"}
        assert client.put("/api/v1/keys/k", headers=who, json=body).status_code == 200
    assert client.get("/api/v1/keys/k?scope=user", headers=alice).get_json()["value"] == "a"
    assert client.get("/api/v1/keys/k?scope=user&user=bob", headers=alice).status_code == 403
    assert client.get("/api/v1/keys?scope=user&user=bob", headers=alice).status_code == 403
    assert client.delete("/api/v1/keys/k?scope=user&user=bob", headers=alice).status_code == 403
    forged = client.put("/api/v1/keys/k", headers=alice,
                        json={"name": "k", "value": "x", "scope": "user", "user": "bob"})
    assert forged.status_code == 403
    assert client.get("/api/v1/keys/k?scope=user&user=bob", headers=admin).get_json()["value"] == "b"
    assert client.get("/api/v1/keys/k?scope=user", headers=bob).get_json()["value"] == "b"


def test_core_local_gets_a_clean_environment(host, client, admin, monkeypatch):
    monkeypatch.setenv("ST2_API_KEY", "leaked-key-123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leaked-aws-456")
    resp = client.post("/api/v1/executions", headers=admin,
                       json={"action": "core.local", "parameters": {"cmd": "env", "env": {"MINE": "yes"}}})
    doc = wait_finished(client, admin, resp.get_json()["id"])
    assert doc["status"] == "succeeded", doc["result"]
    names = {line.split("=", 1)[0] for line in doc["result"]["stdout"].splitlines() if "=" in line}
    assert "ST2_API_KEY" not in names and "AWS_SECRET_ACCESS_KEY" not in names
    assert {"PATH", "MINE", "ST2_ACTION_EXECUTION_ID", "ST2_ACTION_AUTH_TOKEN", "ST2_ACTION_PACK_NAME"} <= names


def test_state_files_are_private(host):
    state = host.settings.state_dir
    assert stat.S_IMODE(os.stat(state).st_mode) & 0o077 == 0
    for name in ("host.sqlite", "users.yaml", "st2admin.password"):
        assert stat.S_IMODE(os.stat(os.path.join(state, name)).st_mode) == 0o600, name


def test_private_file_is_never_group_or_world_readable(tmp_path):
    from st2mistral_server import mistralconf, paths

    old = os.umask(0o022)
    try:
        created = paths.private_file(tmp_path / "a" / "db.sqlite")
        conf = mistralconf.write(tmp_path / "m.conf", mistralconf.render(
            port=1, db_url="sqlite://", transport_url="fake:/", log_file=None, st2_api_url="http://x/api/v1"))
        (tmp_path / "open.conf").write_text("x")
        os.chmod(tmp_path / "open.conf", 0o644)
        rewritten = mistralconf.write(tmp_path / "open.conf", mistralconf.render(
            port=1, db_url="sqlite://", transport_url="fake:/", log_file=None))
    finally:
        os.umask(old)
    for path in (created, conf, rewritten):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    text = conf.read_text()
    assert "auth_type = st2" in text and "auth_enable = true" in text and "mistral.actions.std_actions=WARN" in text
    assert "auth_enable = false" in rewritten.read_text()
