"""Real Mistral servers from st2mistral_server: workflows run, failures carry their reason, CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from mistral_v2.exceptions import MistralError
from st2mistral_server import ensure_venv
from st2mistral_server import venv as venv_mod
from st2mistral_server.infra import distributed_unavailable_reason
from st2mistral_server.process import alive

pytestmark = pytest.mark.integration

THREE_TASKS = """---
version: '2.0'
{name}:
  input:
    - who
  output:
    greeting: <% $.greeting %>
    shout: <% $.shout %>
  tasks:
    greet:
      action: std.echo output="hello <% $.who %>"
      publish:
        greeting: <% task().result %>
      on-success: [pause_nothing]
    pause_nothing:
      action: std.noop
      on-success: [shout]
    shout:
      action: std.echo output=<% $.greeting.toUpper() %>
      publish:
        shout: <% task().result %>
"""

FAILING = """---
version: '2.0'
{name}:
  tasks:
    boom:
      action: std.fail error_data="{marker}"
"""


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _run_three_tasks(client, wait_for_state):
    name = _name("three")
    client.workflows.create(THREE_TASKS.format(name=name))
    execution = client.executions.create(name, workflow_input={"who": "st2"})
    done = wait_for_state(client, execution.id, "SUCCESS", timeout=120)
    tasks = {t.name: t.state for t in client.tasks.list(workflow_execution_id=execution.id)}
    return json.loads(done.output), tasks


def test_embedded_workflow_reaches_success(mistral_server, mistral_client, wait_for_state):
    assert mistral_server.mode == "embedded"
    output, tasks = _run_three_tasks(mistral_client, wait_for_state)
    assert output == {"greeting": "hello st2", "shout": "HELLO ST2"}
    assert tasks == {"greet": "SUCCESS", "pause_nothing": "SUCCESS", "shout": "SUCCESS"}


def test_workflow_trace_keeps_the_transitions_bench_reads_and_hides_inputs(mistral_server, mistral_client,
                                                                           wait_for_state):
    """bench/ (sync lag, hop cost) times workflows from the engine's workflow_trace transitions;
    the plugin's trace filter must keep those (state + execution id) while no log shows a payload."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import common as bench_common

    marker = f"trace-input-{uuid.uuid4().hex[:8]}"
    name = _name("traced")
    mistral_client.workflows.create(THREE_TASKS.format(name=name))
    execution = mistral_client.executions.create(name, workflow_input={"who": marker})
    wait_for_state(mistral_client, execution.id, "SUCCESS", timeout=120)
    logs = [Path(p) for k, p in mistral_server.logs.items() if k in ("mistral", "engine")]
    deadline = time.monotonic() + 30  # the log line may land just after the API shows SUCCESS
    while set(bench_common.trace_times(logs).get(execution.id, {})) < {"RUNNING", "SUCCESS"}:
        assert time.monotonic() < deadline, "no RUNNING/SUCCESS trace for %s in %s" % (execution.id, logs)
        time.sleep(0.2)
    assert execution.id in bench_common.terminal_times(logs)
    every_log = [Path(p) for p in mistral_server.logs.values() if Path(p).is_file()]
    leaks = [line for p in every_log for line in p.read_text(errors="replace").splitlines() if marker in line]
    assert leaks == []  # the input and std.echo's result ("hello <marker>") stay out of every log


def test_failing_task_reaches_error_with_its_reason(mistral_client, wait_for_state):
    marker = f"disk-on-fire-{uuid.uuid4().hex[:6]}"
    name = _name("failing")
    mistral_client.workflows.create(FAILING.format(name=name, marker=marker))
    execution = mistral_client.executions.create(name)
    done = wait_for_state(mistral_client, execution.id, "ERROR", timeout=120)
    assert marker in done.state_info
    (task,) = mistral_client.tasks.list(workflow_execution_id=execution.id)
    assert task.name == "boom" and task.state == "ERROR"


def test_wait_for_state_fails_fast_on_other_terminal_state(mistral_client, wait_for_state):
    name = _name("failing")
    mistral_client.workflows.create(FAILING.format(name=name, marker="expected"))
    execution = mistral_client.executions.create(name)
    with pytest.raises(MistralError, match=r"(?s)ended ERROR \(wanted SUCCESS\).*expected"):
        wait_for_state(mistral_client, execution.id, "SUCCESS", timeout=120)


def _http_task_ended(mistral_client, wait_for_state, tag: str, url: str, state: str, timeout: int = 2) -> Any:
    """A one-task workflow calling std.http GET `url` (`timeout` seconds; `code` published), once
    it reached `state` (fails the test on another end state)."""
    wf = _name(tag)
    mistral_client.workflows.create(f"""---
version: '2.0'
{wf}:
  tasks:
    get:
      action: std.http url="{url}" method=GET timeout={timeout}
      publish:
        code: <% task().result.status %>
""")
    return wait_for_state(mistral_client, mistral_client.executions.create(wf).id, state, 120)


def test_loopback_std_http_is_allowed_link_local_denied(mistral_server, mistral_client,
                                                        wait_for_state):
    """Operators' CIDR setting: the StackStorm API's address (127.0.0.1) works, the rest of
    loopback and metadata/link-local stay blocked."""
    ok = _http_task_ended(mistral_client, wait_for_state, "http", mistral_server.url + "/workflows", "SUCCESS",
                          timeout=60)
    (task,) = mistral_client.tasks.list(workflow_execution_id=ok.id)
    assert json.loads(task.published)["code"] == 200

    denied = _http_task_ended(mistral_client, wait_for_state, "meta", "http://169.254.169.254/latest", "ERROR")
    assert "169.254.169.254" in denied.state_info or "denied" in denied.state_info.lower()

    other = _http_task_ended(mistral_client, wait_for_state, "otherloop",
                             "http://127.0.0.2:%d/v2/workflows" % mistral_server.port, "ERROR")
    assert "127.0.0.2" in other.state_info and "blocked" in other.state_info.lower(), other.state_info


@pytest.mark.distributed
def test_distributed_workflow_reaches_success(mistral_distributed, mistral_distributed_client,
                                              wait_for_state):
    assert mistral_distributed.mode == "distributed"
    assert len(mistral_distributed.pids) == 4
    output, tasks = _run_three_tasks(mistral_distributed_client, wait_for_state)
    assert output == {"greeting": "hello st2", "shout": "HELLO ST2"}
    assert set(tasks.values()) == {"SUCCESS"}


@pytest.mark.distributed
def test_distributed_failing_task_reaches_error(mistral_distributed_client, wait_for_state):
    name = _name("failing")
    mistral_distributed_client.workflows.create(FAILING.format(name=name, marker="dist-boom"))
    execution = mistral_distributed_client.executions.create(name)
    done = wait_for_state(mistral_distributed_client, execution.id, "ERROR", timeout=120)
    assert "dist-boom" in done.state_info


def test_ensure_venv_second_call_reuses_without_pip(monkeypatch):
    venv = ensure_venv()
    marker = (venv / venv_mod.MARKER).read_text()

    def no_pip(*args, **kwargs):
        raise AssertionError(f"ensure_venv ran a command on an up-to-date venv: {args[0]}")

    monkeypatch.setattr(venv_mod, "run_logged", no_pip)
    assert ensure_venv() == venv
    assert (venv / venv_mod.MARKER).read_text() == marker
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import mistral, mistral_v2; print(mistral.__file__)"],
                           capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ST2MISTRAL_VENV=str(ensure_venv()))
    return subprocess.run([sys.executable, "-m", "st2mistral_server.cli", "--home", str(home),
                           *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_up_status_down_are_idempotent(tmp_path):
    assert _cli(tmp_path, "status").returncode == 3
    assert _cli(tmp_path, "down").returncode == 0          # nothing to stop is fine
    refused = _cli(tmp_path, "up")  # authentication is on by default: a StackStorm or --no-auth
    assert refused.returncode == 2 and "--st2-api-url" in refused.stderr and "--no-auth" in refused.stderr
    up = _cli(tmp_path, "up", "--no-auth")
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / "server.json").read_text())
    try:
        again = _cli(tmp_path, "up", "--no-auth")
        assert again.returncode == 0 and "already running" in again.stdout
        assert json.loads((tmp_path / "server.json").read_text())["pids"] == state["pids"]
        st = _cli(tmp_path, "status", "--json")
        assert st.returncode == 0 and json.loads(st.stdout)["running"] is True
        assert requests.get(state["url"] + "/workflows", timeout=10).status_code == 200
        other = _cli(tmp_path, "up", "--no-auth", "--mode", "distributed")
        assert other.returncode == 1 and "already running in embedded mode" in other.stderr
    finally:
        down = _cli(tmp_path, "down")
    assert down.returncode == 0, down.stderr
    assert not (tmp_path / "server.json").exists()
    assert not any(alive(pid) for pid in state["pids"])
    assert not Path(state["run_dir"]).exists()
    assert _cli(tmp_path, "status").returncode == 3


def test_bad_mode_is_a_clear_error(tmp_path):
    bad = _cli(tmp_path, "up", "--mode", "bogus")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


@pytest.mark.distributed
def test_distributed_stop_drops_database_and_kills_processes():
    if distributed_unavailable_reason():
        pytest.skip(distributed_unavailable_reason())
    from st2mistral_server import start, stop
    from st2mistral_server.infra import PG_HOST, PG_PORT, PG_USER

    info = start(mode="distributed")
    stop(info)
    assert not any(alive(pid) for pid in info.pids)
    check = subprocess.run(
        [str(Path(info.venv) / "bin" / "python"), "-c",
         "import sys, psycopg2; c = psycopg2.connect(host=sys.argv[1], port=int(sys.argv[2]), "
         "user=sys.argv[3], dbname='postgres'); cur = c.cursor(); "
         "cur.execute('select count(*) from pg_database where datname=%s', (sys.argv[4],)); "
         "print(cur.fetchone()[0])", PG_HOST, str(PG_PORT), PG_USER, info.database],
        capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "0"
