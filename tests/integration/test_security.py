"""Security: credentials required, secret parameters masked everywhere we show them, tokens and Mistral URL
credentials never logged (host and Mistral log files grepped), loopback-only by default."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from mistralclient.api import client as mistral_client
from test_faults_support import api, make_host

from st2mistral_server import process

pytestmark = pytest.mark.integration
__all__ = ["make_host"]

SECRET = "TopSecret-6d1f0a"

SHORT_RETRIES = """[mistral]
retry_attempts = 2
retry_exp_msec = 50
retry_exp_max_msec = 100
retry_stop_max_msec = 1000
jitter_interval = 0
request_timeout = 2
"""


def _mistral_log(mistral_server) -> str:
    return "".join(Path(p).read_text(errors="replace") for p in mistral_server.logs.values() if Path(p).exists())


@pytest.mark.parametrize("method, path", [
    ("GET", "/executions"), ("POST", "/executions"), ("GET", "/executions/5f00000000000000000000ff"),
    ("PUT", "/executions/5f00000000000000000000ff"), ("DELETE", "/executions/5f00000000000000000000ff"),
    ("GET", "/actions"), ("GET", "/keys"), ("PUT", "/keys/k"), ("POST", "/apikeys"),
    ("GET", "/mistral/executions/5f00000000000000000000ff/tree"),
])
def test_api_refuses_requests_without_valid_credentials(st2_host, method, path):
    url = st2_host.base_url + "/api/v1" + path
    for headers in ({}, {"X-Auth-Token": "not-a-token"}, {"St2-Api-Key": "not-a-key"}):
        resp = requests.request(method, url, headers=headers, json={"action": "core.noop"}, timeout=10)
        assert resp.status_code == 401, (method, path, headers, resp.status_code, resp.text)
        assert "faultstring" in resp.json()


def test_cli_without_credentials_is_refused(st2_host):
    proc = st2_host.st2("execution", "list", check=False, env=st2_host.env(ST2_API_KEY=None))
    assert proc.returncode != 0 or "Unauthorized" in proc.stdout + proc.stderr
    assert "Unauthorized" in proc.stdout + proc.stderr or "401" in proc.stdout + proc.stderr


def test_wrong_password_gets_no_token(st2_host):
    resp = requests.post(st2_host.base_url + "/auth/v1/tokens", auth=("st2admin", "wrong"), json={}, timeout=10)
    assert resp.status_code == 401 and "token" not in resp.json()


def test_secret_parameter_masked_in_api_cli_context_and_logs(mistral_server, make_host):
    host = make_host(mistral_server.url, name="secrets")
    ex_id = host.run_async("faulttest.secretive", "api_password=%s" % SECRET, "seconds=2")
    host.wait_task(ex_id, "hold", ["RUNNING"])
    running = api(host, "GET", "/executions/%s" % ex_id).json()
    mistral = mistral_client.client(mistral_url=mistral_server.url)
    env = json.loads(mistral.executions.get(running["context"]["mistral"]["execution_id"]).params)["env"]
    token = env["__actions"]["st2.action"]["st2_context"]["auth_token"]
    ctx = api(host, "GET", "/mistral/executions/%s/tasks/hold/context" % ex_id)
    assert ctx.status_code == 200, ctx.text
    doc = host.wait(ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert doc["result"]["fine"] == "visible"
    assert doc["parameters"]["api_password"] == "********"

    shown = {
        "running": json.dumps(running), "final": json.dumps(doc), "context": ctx.text,
        "list": api(host, "GET", "/executions").text,
        "result": api(host, "GET", "/executions/%s/result" % ex_id).text,
        "cli get": host.st2("execution", "get", ex_id, "--json").stdout,
        "cli get text": host.st2("execution", "get", ex_id).stdout,
        "cli list": host.st2("execution", "list", "--json").stdout,
        "tree": api(host, "GET", "/mistral/executions/%s/tree" % ex_id).text,
    }
    for where, text in shown.items():
        assert SECRET not in text, (where, text[max(0, text.find(SECRET) - 400):text.find(SECRET) + 40])
    assert "********" in shown["context"]

    # The execution's own StackStorm token was in Mistral's env while it ran (read above), never in
    # our logs or views; the plugin deleted it from Mistral's DB once StackStorm had the final status.
    mistral_id = doc["context"]["mistral"]["execution_id"]
    deadline = time.monotonic() + 30
    while "auth_token" in json.loads(mistral.executions.get(mistral_id).params)["env"]["__actions"]["st2.action"][
            "st2_context"]:
        assert time.monotonic() < deadline, "token still in Mistral's env after the execution ended"
        time.sleep(0.2)
    assert token and token not in json.dumps(doc) and token not in shown["context"]
    host_log = host.log.read_text()
    mistral_log = _mistral_log(mistral_server)
    for secret in (SECRET, token, host.api_key, host.password()):
        assert secret not in host_log
    for secret in (token, host.api_key, host.password()):
        assert secret not in mistral_log
    # Mistral's own INFO logging of inputs (workflow trace, std actions) is turned down in our
    # configuration (mistralconf.QUIET_LOGGERS): nothing carries the secret into its log.
    leaks = [line for line in mistral_log.splitlines() if SECRET in line]
    assert leaks == [], leaks


def test_mistral_url_credentials_never_logged_nor_shown(make_host):
    dead = process.free_port()  # nothing listens: every call fails and is logged/reported
    url = "http://st2user:UrlPass-93c1@127.0.0.1:%d/v2" % dead
    host = make_host(url, SHORT_RETRIES, name="urlcreds")
    ex_id = host.run_async("faulttest.steps", "seconds=0")
    doc = host.wait(ex_id, ["failed", "succeeded"], timeout=60)
    assert doc["status"] == "failed"
    assert "unreachable" in doc["result"]["error"].lower(), doc["result"]
    assert "127.0.0.1:%d" % dead in doc["result"]["error"]
    time.sleep(1.5)  # a reconciler round or two
    for text in (json.dumps(doc), host.st2("execution", "get", ex_id).stdout, host.log.read_text()):
        assert "UrlPass-93c1" not in text


def test_host_binds_to_loopback_by_default(tmp_path):
    state = tmp_path / "state"
    port = process.free_port()
    log = tmp_path / "serve.log"
    proc = process.spawn([sys.executable, "-m", "st2mistral_local.cli", "serve", "--state-dir", str(state),
                          "--port", str(port), "--mistral-url", "http://127.0.0.1:9/v2"], log, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "READY" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        assert "READY http://127.0.0.1:%d" % port in log.read_text()
        listening = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:] + \
                Path("/proc/net/tcp6").read_text().splitlines()[1:]:
            local, state_hex = line.split()[1], line.split()[3]
            addr, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) == port and state_hex == "0A":  # LISTEN
                listening.add(addr)
        assert listening == {"0100007F"}, listening  # 127.0.0.1 only, no 0.0.0.0 / :: socket
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
