"""Shared bench plumbing: import paths, a real Mistral, the local host as a subprocess, timings."""
from __future__ import annotations

import argparse
import datetime
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT / "runners", ROOT / "contrib", ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import requests  # noqa: E402

FINAL = ("succeeded", "failed", "canceled", "timeout", "abandoned")
MISTRAL_FINAL = ("SUCCESS", "ERROR", "CANCELLED")


# ---- numbers -------------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: Sequence[float]) -> float:
    """95th percentile (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # the ceil(0.95 n)-th smallest


def parse_st2_time(value: str) -> float:
    """Epoch seconds of a host timestamp (2026-11-24T12:00:00.123456Z)."""
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


# ---- Mistral ---------------------------------------------------------------------------------

class Mistral:
    """A real Mistral for the bench: started here (embedded/distributed) or an existing URL."""

    def __init__(self, mode: str = "embedded", url: Optional[str] = None) -> None:
        self.info: Any = None
        self.mode = mode
        if url:
            self.url = url
        else:
            from st2mistral_server import start

            self.info = start(mode=mode)
            self.url = self.info.url

    @property
    def pids(self) -> List[int]:
        return list(self.info.pids) if self.info else []

    @property
    def engine_logs(self) -> List[Path]:
        """Log files holding the engine's `workflow_trace` lines."""
        if not self.info:
            return []
        keys = ("mistral", "engine")
        return [Path(p) for k, p in self.info.logs.items() if k in keys]

    def client(self) -> Any:
        from mistralclient.api import client as mistral_client

        return mistral_client.client(mistral_url=self.url)

    def cpu_seconds(self) -> float:
        """User+system CPU of all Mistral processes (and their children) so far."""
        import psutil

        total = 0.0
        for pid in self.pids:
            try:
                proc = psutil.Process(pid)
                for p in [proc] + proc.children(recursive=True):
                    t = p.cpu_times()
                    total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def stop(self) -> None:
        if self.info is not None:
            from st2mistral_server import stop

            stop(self.info)
            self.info = None


LOG_TIME = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.,]\d{3}) "  # a log line's local time, ms (group 1)
_TRACE = re.compile(LOG_TIME + r".*workflow_trace .*Workflow '[^']*' "
                    r"\[\w+ -> (\w+)\b.*\(execution_id=([0-9a-f-]{36})")


def log_matches(logs: Iterable[Path], pattern: "re.Pattern[str]") -> Iterator[Tuple[float, "re.Match[str]"]]:
    """(epoch seconds of the line, match) of every line of `logs` matching `pattern`, which starts
    with LOG_TIME; missing files are skipped."""
    for log in logs:
        try:
            text = log.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            m = pattern.match(line)
            if m:
                stamp = datetime.datetime.strptime(m.group(1).replace(",", "."), "%Y-%m-%d %H:%M:%S.%f")
                yield stamp.timestamp(), m


def trace_times(logs: Iterable[Path]) -> Dict[str, Dict[str, float]]:
    """{mistral execution id: {state: epoch seconds of its first transition to that state}} from
    the engine's workflow_trace log lines (ms precision; the API's updated_at has seconds only)."""
    found: Dict[str, Dict[str, float]] = {}
    for when, m in log_matches(logs, _TRACE):
        found.setdefault(m.group(3), {}).setdefault(m.group(2), when)
    return found


def no_trace(ex_id: str, logs: Iterable[Path]) -> str:
    """Why a workflow has no usable trace: what the benches need from Mistral's log, and where."""
    return ("no workflow_trace transition of Mistral execution %s in %s: the benches need the engine's "
            "INFO lines \"Workflow '...' [A -> B, ...] (execution_id=...)\" (the plugin's trace filter "
            "keeps them; see docs/performance.md)" % (ex_id, ", ".join(str(p) for p in logs) or "no log"))


def terminal_times(logs: Iterable[Path]) -> Dict[str, float]:
    """{mistral execution id: epoch seconds of its first terminal transition} (see trace_times)."""
    out: Dict[str, float] = {}
    for ex_id, states in trace_times(logs).items():
        ends = [t for state, t in states.items() if state in MISTRAL_FINAL]
        if ends:
            out[ex_id] = min(ends)
    return out


# ---- the local host ------------------------------------------------------------------------

class Host:
    """The local StackStorm-compatible host as its own process (push or polling only)."""

    def __init__(self, mistral_url: str, pack_dir: Path, polling: bool, query_interval: float,
                 workers: int = 8) -> None:
        from st2mistral_server import process

        self.tmp = tempfile.TemporaryDirectory(prefix="st2bench-host-")
        self.state_dir = Path(self.tmp.name) / "state"
        self.state_dir.mkdir()
        self.log = Path(self.tmp.name) / "host.log"
        port = process.free_port()
        self.base_url = "http://127.0.0.1:%d" % port
        cmd = [sys.executable, str(ROOT / "bench" / "hostproc.py"), "--workers", str(workers)]
        if polling:
            cmd.append("--polling")
        cmd += ["serve", "--state-dir", str(self.state_dir), "--port", str(port),
                "--mistral-url", mistral_url, "--query-interval", str(query_interval),
                "--packs", str(pack_dir)]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.session = requests.Session()
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("host did not start:\n%s" % self.log.read_text()[-3000:])
            try:
                if self.session.get(self.base_url + "/", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        password = (self.state_dir / "st2admin.password").read_text().strip()
        resp = self.session.post(self.base_url + "/auth/v1/tokens", auth=("st2admin", password),
                                 json={}, timeout=10)
        resp.raise_for_status()
        self.session.headers["X-Auth-Token"] = resp.json()["token"]

    def run(self, ref: str, parameters: Optional[Dict[str, Any]] = None) -> str:
        resp = self.session.post(self.base_url + "/api/v1/executions",
                                 json={"action": ref, "parameters": parameters or {}}, timeout=30)
        resp.raise_for_status()
        return resp.json()["id"]

    def get(self, ex_id: str) -> Dict[str, Any]:
        resp = self.session.get("%s/api/v1/executions/%s" % (self.base_url, ex_id), timeout=30)
        resp.raise_for_status()
        return resp.json()

    def wait(self, ex_id: str, timeout: float = 120, poll: float = 0.02) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            doc = self.get(ex_id)
            if doc["status"] in FINAL:
                return doc
            if time.monotonic() > deadline:
                raise RuntimeError("execution %s still %s after %.0f s" % (ex_id, doc["status"], timeout))
            time.sleep(poll)

    def rss_bytes(self) -> int:
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss

    def cpu_seconds(self) -> float:
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.session.close()
        self.tmp.cleanup()


# ---- the bench pack ------------------------------------------------------------------------

def _chain(name: str, count: int, action: str) -> str:
    lines = ["version: '2.0'", "%s:" % name, "  tasks:"]
    for i in range(count):
        lines.append("    t%02d:" % i)
        lines.append("      " + action)
        if i + 1 < count:
            lines.append("      on-success: t%02d" % (i + 1))
    return "\n".join(lines) + "\n"


HOPS = 20
WORKFLOWS = {
    "quick": "version: '2.0'\nbench.quick:\n  tasks:\n    only:\n      action: std.noop\n",
    "hops_st2": _chain("bench.hops_st2", HOPS, "action: st2.action\n      input:\n        ref: core.noop"),
    "hops_noop": _chain("bench.hops_noop", HOPS, "action: std.noop"),
    "flow": ("version: '2.0'\nbench.flow:\n  tasks:\n    call:\n      action: st2.action\n"
             "      input:\n        ref: core.noop\n      on-success: echo\n"
             "    echo:\n      action: std.echo\n      input:\n        output: done\n"),
}


def write_pack(root: Path) -> Path:
    """The `bench` pack: quick (1 std.noop), hops_st2 / hops_noop (20 sequential st2.action
    core.noop / std.noop) and flow (st2.action core.noop then std.echo)."""
    (root / "actions" / "workflows").mkdir(parents=True, exist_ok=True)
    (root / "pack.yaml").write_text("ref: bench\nname: bench\ndescription: st2-mistral bench\nversion: 0.1.0\n")
    for name, text in WORKFLOWS.items():
        (root / "actions" / ("%s.yaml" % name)).write_text(
            "name: %s\nrunner_type: mistral-v2\nentry_point: workflows/%s.yaml\n" % (name, name))
        (root / "actions" / "workflows" / ("%s.yaml" % name)).write_text(text)
    return root


# ---- command line ----------------------------------------------------------------------------

def main_n(doc: Optional[str], run: Callable[..., List[Dict[str, Any]]], default_n: int,
           flags: Optional[Dict[str, str]] = None) -> int:
    """Command line of a bench taking -n and --url (and on/off `flags`, passed to `run` by name):
    run it on a Mistral and print its rows."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("-n", type=int, default=default_n)
    parser.add_argument("--url", help="existing Mistral v2 URL (default: start one, see --mode)")
    parser.add_argument("--mode", choices=("embedded", "distributed"), default="embedded",
                        help="Mistral to start: embedded (one process, SQLite, in-process RPC) or "
                             "distributed (api/engine/executor/notifier, RabbitMQ, PostgreSQL)")
    for flag, help_text in (flags or {}).items():
        parser.add_argument(flag, action="store_true", help=help_text)
    args = parser.parse_args()
    chosen = {flag.lstrip("-").replace("-", "_"): getattr(args, flag.lstrip("-").replace("-", "_"))
              for flag in flags or {}}
    mistral = Mistral(mode=args.mode, url=args.url)
    try:
        for row in run(mistral, args.n, **chosen):
            print("%s: %s (goal %s)" % (row["bench"], row["value"], row["goal"]))
    finally:
        mistral.stop()
    return 0
