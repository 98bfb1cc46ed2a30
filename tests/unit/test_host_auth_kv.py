"""Unit tests of users, tokens, API keys and the key-value store."""
from __future__ import annotations

import os
import stat

import pytest

from mistral_v2.exceptions import InvalidParametersError
from st2mistral_local import auth, ids, kv
from st2mistral_local.auth import AuthenticationError, Authenticator
from st2mistral_local.store import Store


@pytest.fixture
def setup(tmp_path):
    store = Store(str(tmp_path / "s.sqlite"))
    users = str(tmp_path / "users.yaml")
    password = auth.ensure_users_file(users)
    return store, Authenticator(store, users), password, tmp_path


def test_users_file_is_private_and_created_once(setup):
    _, authn, password, tmp_path = setup
    assert password and len(password) >= 20
    users = str(tmp_path / "users.yaml")
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    assert password not in open(users).read()
    assert open(tmp_path / "st2admin.password").read().strip() == password
    assert auth.ensure_users_file(users) is None
    assert authn.check_password("st2admin", password)
    assert not authn.check_password("st2admin", password + "x")
    assert not authn.check_password("nobody", password)


def test_tokens_are_stored_hashed_and_resolve_to_user(setup):
    store, authn, _, tmp_path = setup
    tok = authn.issue_token("st2admin", ttl=60)
    assert tok["ttl"] == 60 and tok["user"] == "st2admin"
    assert authn.user_for_request({"X-Auth-Token": tok["token"]}, {}) == "st2admin"
    assert authn.user_for_request({}, {"x-auth-token": tok["token"]}) == "st2admin"
    raw = open(tmp_path / "s.sqlite", "rb").read()
    assert tok["token"].encode() not in raw


def test_expired_unknown_and_missing_credentials_are_refused(setup):
    store, authn, _, _ = setup
    store.add_token(auth._hash("old"), ids.new_id(), "u", "2000-01-01T00:00:00.000000Z", None, ids.now_iso())
    with pytest.raises(AuthenticationError, match="expired"):
        authn.user_for_request({"X-Auth-Token": "old"}, {})
    with pytest.raises(AuthenticationError, match="not found"):
        authn.user_for_request({"X-Auth-Token": "nope"}, {})
    with pytest.raises(AuthenticationError, match="One of Token or API key required"):
        authn.user_for_request({}, {})
    with pytest.raises(AuthenticationError, match="API key provided is not valid"):
        authn.user_for_request({"St2-Api-Key": "nope"}, {})
    with pytest.raises(AuthenticationError, match="ttl"):
        authn.issue_token("u", ttl=-5)


def test_ttl_is_capped(setup):
    _, authn, _, _ = setup
    assert authn.issue_token("u", ttl=10 ** 9)["ttl"] == auth.MAX_TTL


def test_api_keys(setup):
    _, authn, _, _ = setup
    key = authn.create_apikey("st2admin")
    assert authn.user_for_request({"St2-Api-Key": key["key"]}, {}) == "st2admin"
    assert authn.user_for_request({}, {"st2-api-key": key["key"]}) == "st2admin"


def test_execution_token_lives_until_execution_completes(setup):
    store, authn, _, _ = setup
    ex_id = ids.new_id()
    doc = {"id": ex_id, "action": {"ref": "a.b"}, "runner": {"name": "mistral-v2"}, "status": "running",
           "start_timestamp": ids.now_iso(), "end_timestamp": None, "context": {}, "parent": None, "log": []}
    store.insert_execution(doc)
    token = authn.issue_execution_token("st2admin", ex_id)
    assert authn.user_for_request({"X-Auth-Token": token}, {}) == "st2admin"

    def finish(d, ended):
        d["status"] = "succeeded"
        d["end_timestamp"] = ended
        return d

    store.update_execution(ex_id, lambda d: {**d, "status": "paused"})
    assert authn.user_for_request({"X-Auth-Token": token}, {}) == "st2admin"  # paused: not over
    store.update_execution(ex_id, lambda d: finish(d, ids.now_iso()))
    with pytest.raises(AuthenticationError, match="expired"):  # revoked the moment it completes
        authn.user_for_request({"X-Auth-Token": token}, {})


@pytest.fixture
def kvs(tmp_path):
    store = Store(str(tmp_path / "s.sqlite"))
    return kv.KeyValueStore(store, kv.load_cipher(str(tmp_path / "kv.key"))), tmp_path


def test_secret_values_are_encrypted_at_rest_and_decrypted_on_request(kvs):
    store, tmp_path = kvs
    doc = store.set("pw", {"value": "s3cr3t", "secret": True}, "st2admin")
    assert doc["encrypted"] is True and doc["value"] != "s3cr3t"
    assert b"s3cr3t" not in open(tmp_path / "s.sqlite", "rb").read()
    assert store.get("pw", None, None, True, "st2admin")["value"] == "s3cr3t"
    assert store.get("pw", "system", None, False, "st2admin")["value"] == doc["value"]
    assert stat.S_IMODE(os.stat(tmp_path / "kv.key").st_mode) == 0o600


def test_pre_encrypted_values_must_decrypt(kvs):
    store, _ = kvs
    cipher = store.encrypt("x")
    assert store.set("e", {"value": cipher, "encrypted": True}, "u")["secret"] is True
    assert store.get("e", None, None, True, "u")["value"] == "x"
    with pytest.raises(InvalidParametersError, match="cannot be decrypted"):
        store.set("e2", {"value": "not-a-ciphertext", "encrypted": True}, "u")


def test_scopes_list_delete_and_ttl(kvs):
    store, _ = kvs
    store.set("a", {"value": "1"}, "u")
    store.set("b", {"value": "2", "scope": "user"}, "u")
    store.set("gone", {"value": "3", "ttl": 1}, "u")
    store.store.put_key({"scope": kv.SYSTEM, "username": "", "name": "gone", "value": "3", "secret": False,
                         "expire_timestamp": "2000-01-01T00:00:00.000000Z", "id": "x"})
    assert [d["name"] for d in store.list("system", None, None, False, "u")] == ["a"]
    assert [d["name"] for d in store.list("all", None, None, False, "u")] == ["a", "b"]
    assert store.list("user", None, None, False, "other") == []
    assert store.get("b", "user", None, False, "u")["user"] == "u"
    assert store.delete("a", None, None, "u") is True
    assert store.delete("a", None, None, "u") is False
    with pytest.raises(InvalidParametersError, match="Invalid scope"):
        store.list("bogus", None, None, False, "u")
    with pytest.raises(InvalidParametersError, match="string \"value\""):
        store.set("n", {"value": 3}, "u")


def test_access_log_lines_never_carry_tokens_or_api_keys():
    import logging

    from mistral_v2.masking import LogFilter as _SecretFilter

    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                               '127.0.0.1 - - "GET /api/v1/keys?x-auth-token=%s&decrypt=true HTTP/1.1" 200 -',
                               ("abc123secret",), None)
    assert _SecretFilter().filter(record) is True
    line = record.getMessage()
    assert "abc123secret" not in line and "x-auth-token=********&decrypt=true" in line
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, "GET /x?St2-Api-Key=KEY123 HTTP/1.1",
                               (), None)
    _SecretFilter().filter(record)
    assert "KEY123" not in record.getMessage()


def test_generated_password_is_letters_and_digits_so_the_cli_never_takes_it_for_an_option(tmp_path):
    # a URL-safe token starting with '-' made `st2 auth st2admin -p -xyz` fail (argparse option)
    for _ in range(300):
        password = auth.new_password()
        assert len(password) == 24 and password.isalnum() and password.isascii(), password
    written = auth.ensure_users_file(str(tmp_path / "users.yaml"))
    assert written is not None and written.isalnum()
    assert (tmp_path / "st2admin.password").read_text().strip() == written
