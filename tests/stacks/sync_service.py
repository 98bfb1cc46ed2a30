"""st2mistral-sync processes next to a real StackStorm (St2Stack): started as an operator would,
with StackStorm's venv python and the box's st2.conf, stopped (SIGTERM) or killed (SIGKILL)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

APPLIED_RE = re.compile(r"callback of execution (\w+) applied")
READY = "st2mistral-sync "
REDIS_URL = os.environ.get("ST2MISTRAL_TEST_REDIS", "redis://127.0.0.1:6379/")


class SyncService:
    """One st2mistral-sync instance; `extra` is appended to its own config file."""

    def __init__(self, stack: Any, name: str, group: str, extra: str = "", coordination: bool = True) -> None:
        self.stack = stack
        self.name = name
        self.dir = Path(stack.state) / "sync" / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "st2mistral-sync.log"
        self.conf = self.dir / "sync.ini"
        lines = ["[mistral_sync]", "api_key = %s" % stack.env["ST2_API_KEY"], "group = %s" % group]
        if coordination:
            lines += ["[coordination]", "url = %s?namespace=%s" % (REDIS_URL, group)]
        self.conf.write_text("\n".join(lines) + "\n" + extra)
        self.proc: Optional[subprocess.Popen] = None
        self._logs: List[Path] = []

    @property
    def binary(self) -> str:
        return str(Path(self.stack.dest) / "venv/bin/st2mistral-sync")

    def start(self, timeout: float = 60) -> "SyncService":
        """Start and wait for its 'started' line (it has joined the group and consumes the bus)."""
        log = self.dir / ("st2mistral-sync.%d.log" % len(self._logs))
        self._logs.append(log)
        self.log = log
        out = open(log, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "--config-file", str(Path(self.stack.state) / "box/st2.conf"),
             "--config-file", str(self.conf)], stdout=out, stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("ST2_")})
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " started: StackStorm API " in self.text(log):
                return self
            if self.proc.poll() is not None:
                raise AssertionError("st2mistral-sync %s exited (%s):\n%s" % (self.name, self.proc.returncode,
                                                                               self.text(log)[-3000:]))
            time.sleep(0.1)
        raise AssertionError("st2mistral-sync %s not started in %ss:\n%s"
                             % (self.name, timeout, self.text(log)[-3000:]))

    def stop(self) -> None:
        """SIGTERM (a clean stop: it leaves the group), SIGKILL after 20 s."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL: no goodbye; the others notice when its membership expires."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    @staticmethod
    def text(path: Path) -> str:
        try:
            return path.read_text(errors="replace")
        except OSError:
            return ""

    def all_text(self) -> str:
        return "".join(self.text(p) for p in self._logs)

    def applied(self) -> Dict[str, int]:
        """{child execution id: callbacks this instance applied to Mistral}, over all its runs."""
        counts: Dict[str, int] = {}
        for ex_id in APPLIED_RE.findall(self.all_text()):
            counts[ex_id] = counts.get(ex_id, 0) + 1
        return counts

    def owned(self, ex_id: str) -> bool:
        return ex_id in self.all_text()


def new_group() -> str:
    return "st2mistral-test-%s" % uuid.uuid4().hex[:10]
