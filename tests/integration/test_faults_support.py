"""Fault-injection helpers (no tests here): an own Mistral that can be killed and restarted on the same
port and database, and own host processes with their own `[mistral]` config."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
import requests

from st2mistral_server import ServerInfo, paths, probe, process, start, stop
from st2mistral_server.logtail import tail

FAULT_PACK = {
    "pack.yaml": "ref: faulttest\nname: faulttest\ndescription: fault injection pack\nversion: 0.1.0\n",
    # A StackStorm child (async in Mistral) that outlives a Mistral outage, then a Mistral task.
    "actions/child_then_echo.yaml": (
        "name: child_then_echo\nrunner_type: mistral-v2\nentry_point: workflows/child_then_echo.yaml\n"
        "parameters:\n  word:\n    type: string\n    required: true\n"
        "  seconds:\n    type: integer\n    default: 3\n"
        "  api_password:\n    type: string\n    secret: true\n    default: s3cr3t-default\n"),
    "actions/workflows/child_then_echo.yaml": (
        "version: '2.0'\nfaulttest.child_then_echo:\n  input:\n    - word\n    - seconds\n    - api_password\n"
        "  tasks:\n"
        "    child:\n      action: core.local\n      input:\n"
        "        cmd: sleep <% $.seconds %>; echo child-<% $.word %>\n"
        "      publish:\n        said: <% task().result.stdout %>\n      on-success: echo\n"
        "    echo:\n      action: std.echo output=\"<% $.said %>-echoed\"\n"
        "      publish:\n        echoed: <% task().result %>\n"
        "  output:\n    said: <% $.said %>\n    echoed: <% $.echoed %>\n"),
    # Mistral tasks only; `gate` fails until datastore key system.<gate> exists (re-run material).
    "actions/steps.yaml": (
        "name: steps\nrunner_type: mistral-v2\nentry_point: workflows/steps.yaml\n"
        "parameters:\n  seconds:\n    type: integer\n    default: 1\n"
        "  gate:\n    type: string\n    default: faulttest_open\n"),
    "actions/workflows/steps.yaml": (
        "version: '2.0'\nfaulttest.steps:\n  input:\n    - seconds\n    - gate\n  tasks:\n"
        "    first:\n      action: std.sleep seconds=<% $.seconds %>\n      on-success: gate\n"
        "    gate:\n      action: std.echo output=<% st2kv('system.' + $.gate) %>\n"
        "      publish:\n        opened: <% task().result %>\n      on-success: after\n"
        "    after:\n      action: std.sleep seconds=<% $.seconds %>\n      on-success: last\n"
        "    last:\n      action: std.echo output=\"done-<% $.opened %>\"\n"
        "      publish:\n        done: <% task().result %>\n"
        "  output:\n    done: <% $.done %>\n"),
    # Bad input material: broken YAML, StackStorm actions called with bad parameters, with-items.
    "actions/broken.yaml": (
        "name: broken\nrunner_type: mistral-v2\nentry_point: workflows/broken.yaml\n"),
    "actions/workflows/broken.yaml": "version: '2.0'\nfaulttest.broken:\n  tasks:\n    t1: [unclosed\n",
    "actions/bad_param.yaml": (
        "name: bad_param\nrunner_type: mistral-v2\nentry_point: workflows/bad_param.yaml\n"),
    "actions/workflows/bad_param.yaml": (
        "version: '2.0'\nfaulttest.bad_param:\n  tasks:\n"
        "    t1:\n      action: core.local cmd=\"echo hi\" bogus_option=1\n"),
    "actions/missing_param.yaml": (
        "name: missing_param\nrunner_type: mistral-v2\nentry_point: workflows/missing_param.yaml\n"),
    "actions/workflows/missing_param.yaml": (
        "version: '2.0'\nfaulttest.missing_param:\n  tasks:\n"
        "    t1:\n      action: core.local\n"),
    "actions/good_param.yaml": (
        "name: good_param\nrunner_type: mistral-v2\nentry_point: workflows/good_param.yaml\n"),
    "actions/workflows/good_param.yaml": (
        "version: '2.0'\nfaulttest.good_param:\n  tasks:\n"
        "    t1:\n      action: core.local cmd=\"echo hi\"\n"
        "      publish:\n        out: <% task().result.stdout %>\n"
        "  output:\n    out: <% $.out %>\n"),
    # A secret parameter that flows into task inputs, published variables and the output.
    "actions/secretive.yaml": (
        "name: secretive\nrunner_type: mistral-v2\nentry_point: workflows/secretive.yaml\n"
        "parameters:\n  api_password:\n    type: string\n    secret: true\n    required: true\n"
        "  seconds:\n    type: integer\n    default: 0\n"),
    "actions/workflows/secretive.yaml": (
        "version: '2.0'\nfaulttest.secretive:\n  input:\n    - api_password\n    - seconds\n  tasks:\n"
        "    use:\n      action: std.echo\n      input:\n        output:\n"
        "          api_password: <% $.api_password %>\n"
        "      publish:\n        api_password: <% task().result.api_password %>\n      on-success: hold\n"
        "    hold:\n      action: std.sleep seconds=<% $.seconds %>\n"
        "  output:\n    api_password: <% $.api_password %>\n    fine: visible\n"),
    # A secret parameter that reaches a std action's input and output, a child's parameters and
    # result, published variables and the workflow output (tests/integration/test_security_grep.py).
    "actions/leaky.yaml": (
        "name: leaky\nrunner_type: mistral-v2\nentry_point: workflows/leaky.yaml\n"
        "parameters:\n  api_password:\n    type: string\n    secret: true\n    required: true\n"),
    "actions/workflows/leaky.yaml": (
        "version: '2.0'\nfaulttest.leaky:\n  input:\n    - api_password\n  tasks:\n"
        "    echo:\n      action: std.echo\n      input:\n        output:\n"
        "          note: connecting with <% $.api_password %> now\n"
        "      publish:\n        note: <% task().result.note %>\n      on-success: child\n"
        "    child:\n      action: core.local cmd=\"echo got <% $.api_password %>\"\n"
        "      publish:\n        said: <% task().result.stdout %>\n"
        "  output:\n    note: <% $.note %>\n    said: <% $.said %>\n"),
    # Regressions: a StackStorm child with a timeout, an undefined variable, a child started late.
    "actions/child_timeout.yaml": (
        "name: child_timeout\nrunner_type: mistral-v2\nentry_point: workflows/child_timeout.yaml\n"
        "parameters:\n  seconds:\n    type: integer\n    default: 30\n"
        "  timeout:\n    type: integer\n    default: 60\n"),
    "actions/workflows/child_timeout.yaml": (
        "version: '2.0'\nfaulttest.child_timeout:\n  input:\n    - seconds\n    - timeout\n  tasks:\n"
        "    child:\n      action: core.local\n      input:\n        cmd: sleep <% $.seconds %>\n"
        "        timeout: <% $.timeout %>\n"),
    "actions/undefined_var.yaml": (
        "name: undefined_var\nrunner_type: mistral-v2\nentry_point: workflows/undefined_var.yaml\n"),
    "actions/workflows/undefined_var.yaml": (
        "version: '2.0'\nfaulttest.undefined_var:\n  tasks:\n"
        "    t1:\n      action: std.echo output=<% $.no_such_variable %>\n      on-success: t2\n"
        "    t2:\n      action: std.noop\n"),
    "actions/late_child.yaml": (
        "name: late_child\nrunner_type: mistral-v2\nentry_point: workflows/late_child.yaml\n"
        "parameters:\n  seconds:\n    type: integer\n    default: 4\n"),
    "actions/workflows/late_child.yaml": (
        "version: '2.0'\nfaulttest.late_child:\n  input:\n    - seconds\n  tasks:\n"
        "    wait:\n      action: std.sleep seconds=<% $.seconds %>\n      on-success: child\n"
        "    child:\n      action: core.local cmd=\"echo late\"\n"
        "      publish:\n        said: <% task().result.stdout %>\n"
        "  output:\n    said: <% $.said %>\n"),
    # Load: three short Mistral-only steps (delays in Mistral's scheduler, not executor threads).
    "actions/load.yaml": (
        "name: load\nrunner_type: mistral-v2\nentry_point: workflows/load.yaml\n"
        "parameters:\n  n:\n    type: integer\n    required: true\n"),
    "actions/workflows/load.yaml": (
        "version: '2.0'\nfaulttest.load:\n  input:\n    - n\n  tasks:\n"
        "    t1:\n      action: std.noop\n      wait-before: 2\n      on-success: t2\n"
        "    t2:\n      action: std.echo output=<% $.n * 2 %>\n      wait-before: 1\n"
        "      publish:\n        doubled: <% task().result %>\n      on-success: t3\n"
        "    t3:\n      action: std.echo output=\"n=<% $.n %>\"\n      wait-before: 1\n"
        "      publish:\n        said: <% task().result %>\n"
        "  output:\n    doubled: <% $.doubled %>\n    said: <% $.said %>\n"),
}


def write_pack(root: Path, files: Dict[str, str]) -> Path:
    """Write a pack's files under `root` and return it."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# ---- an own Mistral that can go down and come back ------------------------------------------------
def kill_mistral(info: ServerInfo) -> None:
    """Stop the server's processes but keep its run dir (config, sqlite db, logs)."""
    process.terminate(list(info.pids), info.config_file)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and probe.api_ok(info.url, timeout=0.5):
        time.sleep(0.1)
    assert not probe.api_ok(info.url, timeout=0.5), "Mistral still answers after being stopped"


def restart_mistral(info: ServerInfo, timeout: float = 90) -> None:
    """Start the embedded Mistral again on the SAME port, config and sqlite database."""
    run = Path(info.run_dir)
    out = run / "launcher-restart.out"
    cmd = [str(Path(info.venv) / "bin" / "python"), str(paths.launcher_path()), "--config-file", info.config_file]
    proc = process.spawn(cmd, out, cwd=run)
    info.pids = [proc.pid]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("restarted Mistral exited (%s):\n%s" % (proc.returncode, tail(out, 40)))
        if "READY" in tail(out, 50) and probe.api_ok(info.url):
            return
        time.sleep(0.2)
    pytest.fail("restarted Mistral did not answer within %.0f s:\n%s" % (timeout, tail(out, 40)))


@pytest.fixture
def own_mistral(request: pytest.FixtureRequest) -> Iterator[ServerInfo]:
    """A private embedded Mistral for tests that stop it (never the session's server)."""
    info = start(mode="embedded")
    yield info
    stop(info, keep_run_dir=request.session.testsfailed > 0)


# ---- own host processes ---------------------------------------------------------------------------
def host_factory(st2_host: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """make(mistral_url, conf="") -> a started host (same helpers as `st2_host`) with its own state dir,
    the fault pack and hosttest pack, and an oslo.config file holding `conf`. All are stopped at the end."""
    base = type(st2_host)
    made: List[Any] = []

    class OwnHost(base):  # type: ignore[misc, valid-type]
        config_file: Optional[Path] = None
        extra_packs: List[str] = []

        def serve_command(self) -> List[str]:
            cmd: List[str] = [*super().serve_command(), *self.extra_packs]
            if self.config_file:
                cmd += ["--config-file", str(self.config_file)]
            return cmd

    fault_pack = write_pack(tmp_path / "faultpack", FAULT_PACK)

    def make(mistral_url: str, conf: str = "", name: str = "host") -> Any:
        root = tmp_path / name
        (root / "state").mkdir(parents=True)
        (root / "home").mkdir()
        (root / "home" / "st2.conf").write_text("[cli]\ncache_token = False\n")
        host = OwnHost(root / "state", st2_host.pack_dir, mistral_url, root / "home")
        host.extra_packs = [str(fault_pack)]
        if conf:
            host.config_file = root / "host.conf"
            host.config_file.write_text(conf)
        made.append(host)
        host.start()
        host.api_key = host.create_api_key()
        return host

    yield make
    for host in made:
        host.stop()


@pytest.fixture
def make_host(st2_host: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """See host_factory."""
    yield from host_factory(st2_host, tmp_path)


def api(host: Any, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A REST call to `host` with its API key."""
    headers = dict(kwargs.pop("headers", {}) or {}, **{"St2-Api-Key": host.api_key})
    return requests.request(method, host.base_url + "/api/v1" + path, headers=headers, timeout=30, **kwargs)


def mistral_executions_for(client: Any, st2_id: str) -> List[Any]:
    """Mistral executions started for StackStorm execution `st2_id` (description st2:<id>)."""
    return [e for e in client.executions.list(limit=-1) if e.description == "st2:%s" % st2_id]
