"""Mistral authenticates every API call with StackStorm (plugin auth handler `st2`, on by default
in `st2mistral-local up`), and the token Mistral keeps for an execution is useless once it ends."""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterable

import pytest
import requests
from pack_files import write_files
from test_faults_support import FAULT_PACK

from st2mistral_local import cli

pytestmark = pytest.mark.integration


def _exports(text: str) -> Dict[str, str]:
    return dict(line[len("export "):].split("=", 1) for line in text.splitlines() if line.startswith("export "))


def up_stack(tmp_path_factory: Any, mode: str = "embedded") -> Iterable[Any]:
    """`st2mistral-local up` as a user runs it: its own Mistral (`mode`) with authentication on."""
    import contextlib
    import io

    root = tmp_path_factory.mktemp("authstack")
    pack = write_files(root / "faultpack", FAULT_PACK)
    home = str(root / "home")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["--home", home, "up", "--mistral", mode, "--packs", str(pack)]) == 0
    exports = _exports(out.getvalue())
    state_dir = os.path.join(home, "local")
    mistral = json.loads(Path(state_dir, "mistral.json").read_text())
    yield SimpleNamespace(base=exports["ST2_BASE_URL"], api=exports["ST2_API_URL"], key=exports["ST2_API_KEY"],
                          mistral=mistral["url"], mistral_info=mistral, state_dir=state_dir, home=home)
    with contextlib.redirect_stdout(io.StringIO()):
        cli.main(["--home", home, "down"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterable[Any]:
    """An embedded `up` stack with authentication on."""
    yield from up_stack(tmp_path_factory)


def st2(stack: Any, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}) or {}, **{"St2-Api-Key": stack.key})
    return requests.request(method, stack.api + path, headers=headers, timeout=30, **kwargs)


def wait(stack: Any, ex_id: str, statuses: Iterable[str], timeout: float = 120) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc = st2(stack, "GET", "/executions/%s" % ex_id).json()
        if doc["status"] in statuses:
            return doc
        if time.monotonic() > deadline:
            pytest.fail("execution %s stayed %s (wanted %s)" % (ex_id, doc["status"], list(statuses)))
        time.sleep(0.2)


def mistral_id(stack: Any, ex_id: str, timeout: float = 60) -> str:
    """The Mistral execution id once the runner started the workflow."""
    deadline = time.monotonic() + timeout
    while True:
        doc = st2(stack, "GET", "/executions/%s" % ex_id).json()
        found = ((doc.get("context") or {}).get("mistral") or {}).get("execution_id")
        if found:
            return found
        assert time.monotonic() < deadline, "execution %s never got a Mistral execution" % ex_id
        time.sleep(0.2)


def run(stack: Any, ref: str, **parameters: Any) -> str:
    resp = st2(stack, "POST", "/executions", json={"action": ref, "parameters": parameters})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def test_mistral_config_has_st2_auth_on(stack):
    conf = Path(stack.mistral_info["config_file"]).read_text()
    assert "auth_enable = true" in conf and "auth_type = st2" in conf and stack.api in conf


def test_every_mistral_call_needs_a_credential_stackstorm_accepts(stack):
    token = requests.post(stack.base + "/auth/v1/tokens", auth=("st2admin", Path(stack.state_dir, "st2admin.password")
                                                                  .read_text().strip()), json={}, timeout=10)
    assert token.status_code == 201, token.text
    cases = [({}, 401), ({"X-Auth-Token": "not-a-token"}, 401), ({"St2-Api-Key": "not-a-key"}, 401),
             ({"St2-Api-Key": stack.key}, 200), ({"X-Auth-Token": token.json()["token"]}, 200)]
    for path in ("/workflows", "/executions", "/action_executions"):
        for headers, code in cases:
            resp = requests.get(stack.mistral + path, headers=headers, timeout=30)
            assert resp.status_code == code, (path, list(headers), resp.status_code, resp.text[:300])
    refused = requests.post(stack.mistral + "/executions", json={"workflow_name": "x"}, timeout=30)
    assert refused.status_code == 401
    # Identity headers a caller sends are not believed: still 401 without a credential.
    forged = requests.get(stack.mistral + "/executions", headers={"X-Identity-Status": "Confirmed",
                                                                  "X-Roles": "admin"}, timeout=30)
    assert forged.status_code == 401


def test_workflow_child_pause_resume_rerun_work_with_auth_on(stack):
    ex_id = run(stack, "faulttest.child_then_echo", word="auth", seconds=0)
    doc = wait(stack, ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    assert doc["result"]["said"].strip() == "child-auth"

    gate = "authgate_%s" % uuid.uuid4().hex[:6]
    ex_id = run(stack, "faulttest.steps", seconds=2, gate=gate)
    mistral_id(stack, ex_id)
    paused = st2(stack, "PUT", "/executions/%s" % ex_id, json={"status": "pausing"})
    assert paused.status_code == 200, paused.text
    wait(stack, ex_id, ["paused"])
    assert st2(stack, "PUT", "/executions/%s" % ex_id, json={"status": "resuming"}).status_code == 200
    failed = wait(stack, ex_id, ["failed", "succeeded"])
    assert failed["status"] == "failed"  # the gate's key does not exist yet
    assert st2(stack, "PUT", "/keys/%s" % gate, json={"name": gate, "value": "open"}).status_code == 200
    rerun = st2(stack, "POST", "/executions/%s/re_run" % ex_id, json={"tasks": ["gate"]})
    assert rerun.status_code == 201, rerun.text
    again = wait(stack, rerun.json()["id"], ["succeeded", "failed"])
    assert again["status"] == "succeeded", again["result"]
    assert again["result"]["done"] == "done-open"


def test_token_in_mistral_database_is_useless_once_the_execution_ended(stack):
    ex_id = run(stack, "faulttest.child_then_echo", word="tok", seconds=3)
    key = {"St2-Api-Key": stack.key}
    params = json.loads(requests.get(stack.mistral + "/executions/" + mistral_id(stack, ex_id), headers=key,
                                     timeout=30)
                        .json()["params"])
    token = params["env"]["__actions"]["st2.action"]["st2_context"]["auth_token"]
    # While the execution runs the token works (its children are started with it) ...
    assert requests.get(stack.api + "/executions?limit=1", headers={"X-Auth-Token": token},
                        timeout=30).status_code == 200
    assert wait(stack, ex_id, ["succeeded", "failed"])["status"] == "succeeded"
    # ... once it ended, neither StackStorm nor Mistral accepts it.
    assert requests.get(stack.api + "/executions?limit=1", headers={"X-Auth-Token": token},
                        timeout=30).status_code == 401
    deadline = time.monotonic() + 30  # Mistral trusts a checked credential [st2] auth_cache_ttl (10 s)
    while requests.get(stack.mistral + "/workflows", headers={"X-Auth-Token": token}, timeout=30).status_code != 401:
        assert time.monotonic() < deadline, "Mistral still accepts the ended execution's token"
        time.sleep(0.5)


@pytest.mark.distributed
def test_distributed_mistral_with_auth_runs_a_workflow_with_a_child(tmp_path_factory):
    """API, engine, executor and notifier as separate processes: the security context crosses RPC."""
    from st2mistral_server import infra

    if infra.distributed_unavailable_reason():
        pytest.skip(infra.distributed_unavailable_reason())
    gen = up_stack(tmp_path_factory, "distributed")
    dist = next(gen)
    try:
        assert requests.get(dist.mistral + "/workflows", timeout=30).status_code == 401
        ex_id = run(dist, "faulttest.child_then_echo", word="dist", seconds=0)
        doc = wait(dist, ex_id, ["succeeded", "failed"])
        assert doc["status"] == "succeeded", doc["result"]
        assert doc["result"]["said"].strip() == "child-dist"
    finally:
        next(gen, None)
