"""`st2_host`: the local StackStorm-compatible host (a real subprocess) on the session's real Mistral,
driven through the real `st2` CLI (st2client from PyPI)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional

import pytest
import requests
from pack_files import write_files

from st2mistral_server import process

HOST_PACK = {
    "pack.yaml": "ref: hosttest\nname: hosttest\ndescription: st2mistral-local integration pack\nversion: 0.1.0\n",
    "actions/slow.yaml": (
        "name: slow\nrunner_type: mistral-v2\nentry_point: workflows/slow.yaml\n"
        "description: Three steps, the first two sleeping.\n"
        "parameters:\n  seconds:\n    type: integer\n    default: 2\n"
        "  password:\n    type: string\n    secret: true\n    default: not-shown\n"),
    "actions/workflows/slow.yaml": (
        "version: '2.0'\nhosttest.slow:\n  input:\n    - seconds\n    - password\n  tasks:\n"
        "    first:\n      action: std.sleep seconds=<% $.seconds %>\n      on-success: second\n"
        "    second:\n      action: std.sleep seconds=<% $.seconds %>\n      on-success: third\n"
        "    third:\n      action: std.echo output=\"slept <% $.seconds %>\"\n"
        "      publish:\n        said: <% task().result %>\n"
        "  output:\n    said: <% $.said %>\n"),
    "actions/with_child.yaml": (
        "name: with_child\nrunner_type: mistral-v2\nentry_point: workflows/with_child.yaml\n"
        "parameters:\n  word:\n    type: string\n    required: true\n"),
    "actions/workflows/with_child.yaml": (
        "version: '2.0'\nhosttest.with_child:\n  input:\n    - word\n  tasks:\n"
        "    call_st2:\n      action: st2.action\n      input:\n        ref: core.local\n"
        "        parameters:\n          cmd: echo child-<% $.word %>\n"
        "      publish:\n        child: <% task().result %>\n"
        "  output:\n    child: <% $.child %>\n"),
    "actions/needs_key.yaml": (
        "name: needs_key\nrunner_type: mistral-v2\nentry_point: workflows/needs_key.yaml\n"
        "parameters:\n  who:\n    type: string\n    default: you\n"),
    "actions/workflows/needs_key.yaml": (
        "version: '2.0'\nhosttest.needs_key:\n  input:\n    - who\n  tasks:\n"
        "    hello:\n      action: core.echo message=\"hello <% $.who %>\"\n"
        "      publish:\n        hello: <% task().result.stdout %>\n      on-success: check\n"
        "    check:\n      action: std.echo output=<% st2kv('system.hosttest_ready') %>\n"
        "      publish:\n        ready: <% task().result %>\n"
        "  output:\n    hello: <% $.hello %>\n    ready: <% $.ready %>\n"),
}

FINAL = ("succeeded", "failed", "canceled", "timeout", "abandoned")
ID_RE = re.compile(r"\b[0-9a-f]{24}\b")


def _st2_binary() -> str:
    candidate = os.path.join(os.path.dirname(sys.executable), "st2")
    found = candidate if os.path.exists(candidate) else shutil.which("st2")
    if not found:
        pytest.fail("the st2 CLI (PyPI st2client) is not installed; pip install -e .[cli]")
    return found


class St2Host:
    """The host subprocess plus helpers to drive it through the `st2` CLI and its REST API."""

    def __init__(self, state_dir: Path, pack_dir: Path, mistral_url: str, home: Path) -> None:
        self.state_dir = state_dir
        self.pack_dir = pack_dir
        self.mistral_url = mistral_url
        self.home = home
        self.port = process.free_port()
        self.base_url = "http://127.0.0.1:%d" % self.port
        self.log = state_dir / "host.log"
        self.proc: Optional[subprocess.Popen] = None
        self.st2_bin = _st2_binary()
        self.api_key = ""

    @classmethod
    @contextlib.contextmanager
    def serving(cls, root: Path, pack: Mapping[str, str], mistral_url: str) -> Iterator["St2Host"]:
        """A started host in `root` serving `pack` (relative path -> text, written to root/pack),
        with its own state dir, a CLI home without token cache and an API key; stopped on exit."""
        home = root / "home"
        home.mkdir()
        (home / "st2.conf").write_text("[cli]\ncache_token = False\n")
        host = cls(root / "state", write_files(root / "pack", pack), mistral_url, home)
        (root / "state").mkdir()
        host.start()
        host.api_key = host.create_api_key()
        yield host
        host.stop()

    # ---- process ---------------------------------------------------------------------------
    def serve_command(self) -> List[str]:
        """The `st2mistral-local serve` command line of this host (subclasses add options)."""
        return [sys.executable, "-m", "st2mistral_local.cli", "serve", "--state-dir", str(self.state_dir),
                "--port", str(self.port), "--mistral-url", self.mistral_url, "--query-interval", "0.5",
                "--packs", str(self.pack_dir)]

    def start(self) -> None:
        self.proc = process.spawn(self.serve_command(), self.log, self.state_dir)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("host exited (%s):\n%s" % (self.proc.returncode, self.log.read_text()[-3000:]))
            try:
                if requests.get(self.base_url + "/", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail("host did not answer within 60 s:\n%s" % self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    # ---- credentials -----------------------------------------------------------------------
    def password(self) -> str:
        return (self.state_dir / "st2admin.password").read_text().strip()

    def token(self) -> str:
        resp = requests.post(self.base_url + "/auth/v1/tokens", auth=("st2admin", self.password()), json={},
                             timeout=10)
        resp.raise_for_status()
        return resp.json()["token"]

    def create_api_key(self) -> str:
        resp = requests.post(self.base_url + "/api/v1/apikeys", headers={"X-Auth-Token": self.token()}, json={},
                             timeout=10)
        resp.raise_for_status()
        return resp.json()["key"]

    # ---- the st2 CLI ---------------------------------------------------------------------
    def env(self, **overrides: Optional[str]) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ST2_")}
        env.update({"HOME": str(self.home), "ST2_CONFIG_FILE": str(self.home / "st2.conf"),
                    "ST2_BASE_URL": self.base_url, "ST2_API_URL": self.base_url + "/api/v1",
                    "ST2_AUTH_URL": self.base_url + "/auth/v1", "ST2_API_KEY": self.api_key})
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def st2(self, *args: str, check: bool = True, env: Optional[Dict[str, str]] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.st2_bin, *args], capture_output=True, text=True, env=env or self.env(),
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError("st2 %s failed (%d):\n%s\n%s" % (" ".join(args), proc.returncode, proc.stdout,
                                                                   proc.stderr))
        return proc

    def st2_json(self, *args: str) -> Any:
        return json.loads(self.st2(*args, "--json").stdout)

    def run_async(self, ref: str, *params: str) -> str:
        """`st2 run -a` and the new execution id (the CLI prints text, not JSON, with -a)."""
        out = self.st2("run", "-a", ref, *params).stdout
        found = ID_RE.findall(out)
        assert found, out
        return found[0]

    # ---- REST helpers for waiting ----------------------------------------------------------
    def get(self, ex_id: str) -> Dict[str, Any]:
        resp = requests.get("%s/api/v1/executions/%s" % (self.base_url, ex_id),
                            headers={"St2-Api-Key": self.api_key}, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def children(self, ex_id: str) -> List[Dict[str, Any]]:
        """The execution documents of the children of `ex_id`."""
        return [self.get(c) for c in self.get(ex_id).get("children") or []]

    def wait(self, ex_id: str, statuses: Iterable[str], timeout: float = 90,
             require_mistral: bool = False) -> Dict[str, Any]:
        wanted = set(statuses)
        deadline = time.monotonic() + timeout
        doc: Dict[str, Any] = {}
        while time.monotonic() < deadline:
            doc = self.get(ex_id)
            if doc["status"] in wanted and (not require_mistral or "mistral" in doc.get("context", {})):
                return doc
            time.sleep(0.2)
        raise AssertionError("execution %s never reached %s; last: %s" % (ex_id, sorted(wanted), doc.get("status")))

    def wait_task(self, ex_id: str, task: str, states: List[str], timeout: float = 60) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = self.get(ex_id)
            tasks = {t["name"]: t["state"] for t in (doc.get("result") or {}).get("tasks", [])}
            if tasks.get(task) in states:
                return doc
            time.sleep(0.2)
        raise AssertionError("task %s of %s never reached %s" % (task, ex_id, states))


@pytest.fixture(scope="session")
def st2_host(mistral_server, tmp_path_factory) -> Any:
    """The host on the session's Mistral, with an API key for the CLI; started once per run."""
    with St2Host.serving(tmp_path_factory.mktemp("st2host"), HOST_PACK, mistral_server.url) as host:
        yield host


@pytest.fixture(scope="module")
def host(st2_host, tmp_path_factory, request) -> Any:
    """A host of the test module's own serving the module's PACK (the session host class, session
    Mistral); a module needing another host defines a `host` fixture of its own."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    with type(st2_host).serving(tmp_path_factory.mktemp(name), request.module.PACK, st2_host.mistral_url) as ours:
        yield ours


@pytest.fixture(scope="session")
def st2_host_class() -> Any:
    """St2Host itself, for tests serving a pack of their own: st2_host_class.serving(root, pack, url)."""
    return St2Host
