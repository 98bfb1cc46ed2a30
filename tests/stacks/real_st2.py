"""Real StackStorm 3.9.0 for the `st2` tier: st2box built from StackStorm's source, this project
pip-installed into it within StackStorm's pins, the compat layer enabled, one box on a real Mistral."""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence

import requests

from st2mistral_server import process

REPO = Path(__file__).resolve().parents[2]
SRC_ENV = "ST2MISTRAL_ST2_SRC"
# What `pip install` of this project reads: a change here (by content) triggers a re-install.
PACKAGE_SOURCES = ("setup.py", "requirements.txt", "runners/mistral_v2", "contrib/st2mistral_local",
                   "contrib/st2mistral_server", "contrib/st2mistral_compat", "contrib/st2mistral_sync",
                   "st2client_ext")
PACKS: List[Path] = [REPO / "actions"] + sorted(p for d in ("tests/fixtures/packs", "tests/st2/packs")
                                                for p in (REPO / d).iterdir() if p.is_dir())
ID_RE = re.compile(r"\b[0-9a-f]{24}\b")
FINAL = ("succeeded", "failed", "canceled", "timeout", "abandoned")


class StackError(AssertionError):
    """The real StackStorm could not be built or started (the tier fails, never skips)."""


def _run(cmd: Sequence[str], log: Path, what: str, env: Optional[Dict[str, str]] = None,
         timeout: float = 900) -> None:
    with open(log, "ab") as out:
        proc = subprocess.run(list(cmd), stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise StackError("%s failed (exit %d): %s\n%s" % (what, proc.returncode, " ".join(cmd),
                                                          log.read_text(errors="replace")[-4000:]))


def st2_source() -> Path:
    """StackStorm's source: $ST2MISTRAL_ST2_SRC, else <repo>/../shared/stackstorm; missing -> StackError."""
    src = Path(os.environ.get(SRC_ENV) or REPO.parent / "shared" / "stackstorm").resolve()
    missing = [n for n in ("st2box/build.sh", "st2box/st2box.sh", "st2-3.9.0/st2common") if not (src / n).exists()]
    if missing:
        raise StackError("StackStorm source not found at %s (missing %s); set %s to the folder holding "
                         "st2-3.9.0/ and st2box/" % (src, ", ".join(missing), SRC_ENV))
    return src


def home() -> Path:
    path = Path(os.environ.get("ST2MISTRAL_HOME") or Path.home() / ".st2mistral").expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_hash(root: Path = REPO) -> str:
    """sha256 over the path and content of every file pip installs from (bytecode excluded)."""
    digest = hashlib.sha256()
    for rel in PACKAGE_SOURCES:
        base = root / rel
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build(src: Path, dest: Path, log: Path) -> float:
    """st2box's build.sh (cached by st2box itself); returns seconds spent."""
    began = time.monotonic()
    _run(["bash", str(src / "st2box/build.sh"), str(src), str(dest)], log, "st2box build.sh")
    return time.monotonic() - began


def install_project(dest: Path, log: Path) -> bool:
    """pip-install a clean copy of this tree into dest/venv within StackStorm's pins; skipped when
    the package sources' content hash is the one installed last. True when it installed."""
    stamp = dest / "st2mistral-installed.sha256"
    wanted = package_hash()
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return False
    pip = [str(dest / "venv/bin/python"), "-m", "pip", "--disable-pip-version-check"]
    with tempfile.TemporaryDirectory(prefix="st2mistral-copy-", dir=str(dest)) as tmp:
        for rel in PACKAGE_SOURCES:
            source, target = REPO / rel, Path(tmp) / rel
            if source.is_file():
                shutil.copy2(source, target)
            else:
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        stamp.unlink(missing_ok=True)
        _run(pip + ["uninstall", "-y", "st2-mistral"], log, "pip uninstall st2-mistral")
        _run(pip + ["install", "-c", str(dest / "reqs/constraints.txt"), tmp], log,
             "pip install of st2-mistral into StackStorm's venv within its pins")
    stamp.write_text(wanted + "\n")
    return True


def compat(dest: Path, command: str, log: Path) -> str:
    """Run the compat layer's own command (`st2-mistral-compat`) with StackStorm's venv."""
    out = subprocess.run([str(dest / "venv/bin/st2-mistral-compat"), command], capture_output=True, text=True)
    with open(log, "a") as fh:
        fh.write(out.stdout + out.stderr)
    if out.returncode != 0:
        raise StackError("st2-mistral-compat %s failed: %s%s" % (command, out.stdout, out.stderr))
    return out.stdout.strip()


class St2Stack:
    """A running st2box (real StackStorm 3.9) whose `[mistral]` points at a real Mistral."""

    def __init__(self, src: Path, dest: Path, state: Path, mistral_url: str, api_port: Optional[int] = None) -> None:
        self.src = src
        self.dest = dest
        self.state = state
        self.mistral_url = mistral_url
        self.api_port = api_port or process.free_port()
        self.api_url = "http://127.0.0.1:%d/v1" % self.api_port
        self.log = state / "st2box.log"
        self.setup_log = state / "setup.log"
        self.st2_bin = str(dest / "clientvenv/bin/st2")
        self.python = str(dest / "venv/bin/python")
        self.env: Dict[str, str] = {}
        # An API key written into st2.conf's [mistral] api_key (running_stack(runner_api_key=True)).
        self.mistral_api_key = ""
        self.mistral_api_key_id = ""
        self.timings: Dict[str, float] = {}
        self._client: Any = None

    # -- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def start(cls, mistral_url: str, state: Path, extra_packs: Iterable[Path] = (),
              extra_conf: str = "", api_port: Optional[int] = None) -> "St2Stack":
        """Build, install, enable the compat layer, start the box; `api_port` fixes st2api's port
        (a Mistral authenticating with this StackStorm is started first, knowing its URL)."""
        src = st2_source()
        dest = home() / "st2box"
        state.mkdir(parents=True, exist_ok=True)
        stack = cls(src, dest, state, mistral_url, api_port)
        stack.timings["build"] = build(src, dest, stack.setup_log)
        began = time.monotonic()
        install_project(dest, stack.setup_log)
        stack.timings["install"] = time.monotonic() - began
        compat(dest, "enable", stack.setup_log)
        try:
            stack.up(list(PACKS) + list(extra_packs), extra_conf)
        except BaseException:
            stack.stop()
            raise
        return stack

    def box_env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env["ST2BOX_HOME"] = str(self.dest)
        return env

    def up(self, packs: List[Path], extra_conf: str = "") -> None:
        conf = self.state / "mistral.ini"
        conf.write_text("[mistral]\nv2_base_url = %s\napi_url = %s\n%s" % (self.mistral_url, self.api_url, extra_conf))
        box = self.state / "box"
        cmd = ["bash", str(self.src / "st2box/st2box.sh"), "up", str(box), "--api-port", str(self.api_port),
               "--conf-extra", str(conf), "--stream", "--workflow-engine"]
        for pack in packs:
            cmd += ["--pack", str(pack)]
        began = time.monotonic()
        _run(cmd, self.setup_log, "st2box.sh up", env=self.box_env(), timeout=300)
        self.timings["up"] = time.monotonic() - began
        self.log = box / "st2box.log"
        cli_home = self.state / "cli"
        cli_home.mkdir(exist_ok=True)
        (cli_home / "st2.conf").write_text("[cli]\ncache_token = False\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ST2_")}
        env.update({"HOME": str(cli_home), "ST2_CONFIG_FILE": str(cli_home / "st2.conf")})
        for line in (box / "env").read_text().splitlines():
            if line.startswith("export "):
                name, value = line[len("export "):].split("=", 1)
                env[name] = value
        self.env = env

    def stop(self) -> None:
        box = self.state / "box"
        subprocess.run(["bash", str(self.src / "st2box/st2box.sh"), "down", str(box)], env=self.box_env(),
                       capture_output=True, timeout=120)

    # -- clients ---------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """st2client's Python API (`st2client.client.Client`) logged in with the box's API key."""
        if self._client is None:
            from st2client.client import Client

            self._client = Client(base_url=self.env["ST2_BASE_URL"], api_url=self.env["ST2_API_URL"],
                                  auth_url=self.env["ST2_AUTH_URL"], api_key=self.env["ST2_API_KEY"])
        return self._client

    def st2(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """The stock `st2` CLI (st2client 3.9.0 from st2box's clientvenv) with the box's exports."""
        proc = subprocess.run([self.st2_bin, *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError("st2 %s failed (%d):\n%s\n%s" % (" ".join(args), proc.returncode, proc.stdout,
                                                                   proc.stderr))
        return proc

    def run_cli(self, *args: str, check: bool = True) -> Any:
        """`st2 <args> -j` parsed as JSON (the first document: a workflow's `st2 run` adds its tasks)."""
        proc = self.st2(*args, "-j", check=check)
        text = proc.stdout.strip()
        if not text.startswith(("{", "[")):
            return proc.stdout
        return json.JSONDecoder().raw_decode(text)[0]

    def run_async(self, ref: str, *params: str) -> str:
        """`st2 run -a` and the new execution id (the CLI prints text, not JSON, with -a)."""
        out = self.st2("run", "-a", ref, *params).stdout
        found = ID_RE.findall(out)
        assert found, out
        return found[0]

    def headers(self) -> Dict[str, str]:
        return {"St2-Api-Key": self.env["ST2_API_KEY"]}

    def register_api_key(self, key: str, user: str = "st2admin") -> str:
        """Store `key`, chosen beforehand (e.g. already in st2.conf), as an API key of `user`, the
        way `st2 apikey load` does: only StackStorm's own hash of it (st2common's, run in the box's
        venv). The new key's id."""
        hashed = subprocess.run([self.python, "-c", "import sys; from st2common.util.hash import hash; "
                                 "print(hash(sys.stdin.read()))"], input=key, capture_output=True, text=True,
                                timeout=120)
        if hashed.returncode != 0:
            raise StackError("hashing an API key with st2common failed: %s" % hashed.stderr[-2000:])
        resp = requests.post(self.api_url + "/apikeys", headers=self.headers(), timeout=30,
                             json={"user": user, "key_hash": hashed.stdout.strip(),
                                   "metadata": {"used_by": "st2mistral tests"}})
        resp.raise_for_status()
        return str(resp.json()["id"])

    def get(self, ex_id: str) -> Dict[str, Any]:
        resp = requests.get("%s/executions/%s" % (self.api_url, ex_id), headers=self.headers(), timeout=10)
        resp.raise_for_status()
        return resp.json()

    def wait_for_status(self, ex_id: str, statuses: Iterable[str], timeout: float = 90) -> Dict[str, Any]:
        """Poll the execution until its status is one of `statuses`; AssertionError with the last one."""
        wanted = set(statuses)
        deadline = time.monotonic() + timeout
        doc: Dict[str, Any] = {}
        while time.monotonic() < deadline:
            doc = self.get(ex_id)
            if doc["status"] in wanted:
                return doc
            time.sleep(0.2)
        raise AssertionError("execution %s never reached %s in %ss; last %s: %s" % (
            ex_id, sorted(wanted), timeout, doc.get("status"), json.dumps(doc.get("result"))[:2000]))

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@contextmanager
def running_stack(mistral_url: str, state: Path, api_port: Optional[int] = None,
                  mistral_auth: bool = False, runner_api_key: bool = False) -> Iterator[St2Stack]:
    """A started St2Stack with its st2mistral-sync (`stack.sync`), both stopped on exit; StackError
    when it cannot start. `mistral_auth`: the service sends the box's API key to Mistral
    (`[mistral] api_key` in its own config file), as a Mistral with `auth_type = st2` needs.
    `runner_api_key`: instead, a new API key of st2admin (`stack.mistral_api_key`) goes into
    st2.conf's `[mistral] api_key`, which the runner and the service both read."""
    from stacks.sync_service import SyncService, new_group

    key = secrets.token_hex(24) if runner_api_key else ""
    stack = St2Stack.start(mistral_url, state, api_port=api_port, extra_conf="api_key = %s\n" % key if key else "")
    try:
        if key:
            stack.mistral_api_key_id = stack.register_api_key(key)
            stack.mistral_api_key = key
        # StackStorm 3.9 calls no callback when a child finishes: st2mistral-sync reports it to Mistral.
        extra = "[mistral]\napi_key = %s\n" % stack.env["ST2_API_KEY"] if mistral_auth and not key else ""
        stack.sync = SyncService(stack, "shared", new_group(), extra=extra)
        stack.sync.start()
        try:
            yield stack
        finally:
            stack.sync.stop()
    finally:
        stack.stop()
