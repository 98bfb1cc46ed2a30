"""Keys (incl. --encrypt/--decrypt) and authentication through the real `st2` CLI."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_key_set_get_list_delete(st2_host):
    st2_host.st2("key", "set", "plain_k", "plain-v")
    assert st2_host.st2_json("key", "get", "plain_k")["value"] == "plain-v"
    st2_host.st2("key", "set", "secret_k", "s3cr3t-v", "--encrypt")
    hidden = st2_host.st2_json("key", "get", "secret_k")
    assert hidden["value"] != "s3cr3t-v" and hidden["secret"] is True
    assert st2_host.st2_json("key", "get", "secret_k", "--decrypt")["value"] == "s3cr3t-v"
    listed = {k["name"]: k for k in st2_host.st2_json("key", "list")}
    assert listed["plain_k"]["value"] == "plain-v" and listed["secret_k"]["value"] != "s3cr3t-v"
    assert "s3cr3t-v" not in st2_host.st2("key", "list").stdout
    decrypted = {k["name"]: k["value"] for k in st2_host.st2_json("key", "list", "--decrypt")}
    assert decrypted["secret_k"] == "s3cr3t-v"
    st2_host.st2("key", "delete", "plain_k")
    gone = st2_host.st2("key", "get", "plain_k", check=False)
    assert gone.returncode != 0 and "plain_k" in gone.stdout + gone.stderr
    st2_host.st2("key", "delete", "secret_k")


def test_requests_without_or_with_wrong_credentials_are_refused(st2_host):
    anonymous = st2_host.st2("action", "list", check=False, env=st2_host.env(ST2_API_KEY=None))
    assert anonymous.returncode != 0
    assert "401" in anonymous.stdout + anonymous.stderr
    assert "One of Token or API key required" in anonymous.stdout + anonymous.stderr
    wrong_key = st2_host.st2("execution", "list", check=False, env=st2_host.env(ST2_API_KEY="not-a-key"))
    assert wrong_key.returncode != 0 and "API key provided is not valid" in wrong_key.stdout + wrong_key.stderr
    wrong_token = st2_host.st2("key", "list", check=False,
                               env=st2_host.env(ST2_API_KEY=None, ST2_AUTH_TOKEN="0" * 32))
    assert wrong_token.returncode != 0 and "401" in wrong_token.stdout + wrong_token.stderr
    bad_login = st2_host.st2("auth", "st2admin", "-p", "wrong-password", check=False,
                             env=st2_host.env(ST2_API_KEY=None))
    assert bad_login.returncode != 0 and "Invalid username or password" in bad_login.stdout + bad_login.stderr


def test_login_with_the_generated_password_gives_a_working_token(st2_host):
    env = st2_host.env(ST2_API_KEY=None)
    token = st2_host.st2("auth", "st2admin", "-p", st2_host.password(), "-t", env=env).stdout.strip()
    assert len(token) == 32
    env["ST2_AUTH_TOKEN"] = token
    refs = [a["ref"] for a in json.loads(st2_host.st2("action", "list", "--json", env=env).stdout)]
    assert "core.local" in refs


def test_host_log_holds_no_credentials(st2_host):
    token = st2_host.token()
    st2_host.st2("key", "list", "--decrypt", env=st2_host.env(ST2_API_KEY=None, ST2_AUTH_TOKEN=token))
    st2_host.st2("run", "hosttest.slow", "seconds=0", "password=do-not-log-me")
    log = st2_host.log.read_text()
    for secret in (st2_host.api_key, st2_host.password(), token, "do-not-log-me"):
        assert secret not in log
