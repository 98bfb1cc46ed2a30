"""Start, identify and stop the server's child processes; find a free loopback port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def spawn(cmd: Sequence[str], output: Path, cwd: Path,
          env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    """Start `cmd` in its own session (so it survives us and its group can be killed)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # logs may name secrets
    with os.fdopen(fd, "ab") as out:
        return subprocess.Popen(
            list(cmd), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=str(cwd), env=env, start_new_session=True, close_fds=True,
        )


def alive(pid: int) -> bool:
    """True when `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def is_ours(pid: int, token: str) -> bool:
    """True when `pid` is alive and its command line mentions `token` (our config file path).

    Guards against killing an unrelated process that reused a pid from a stale state file.
    """
    for _ in range(50):  # an empty cmdline means the child is still inside execve(): re-read
        if not alive(pid):
            return False
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except OSError:
            return False
        if cmdline:
            return token.encode() in cmdline
        time.sleep(0.02)
    return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def terminate(pids: List[int], token: str, grace: float = 5.0) -> List[int]:
    """SIGTERM each of our process groups, SIGKILL what is left after `grace` s; returns killed pids."""
    ours = [pid for pid in pids if is_ours(pid, token)]
    _signal_and_wait(ours, signal.SIGTERM, grace, 0.1)
    _signal_and_wait(ours, signal.SIGKILL, 5.0, 0.05)  # also any worker children left in the group
    return ours


def _signal_and_wait(pids: List[int], sig: int, seconds: float, poll: float) -> None:
    """Send `sig` to each process group, then reap them until all are gone or `seconds` passed."""
    for pid in pids:
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for pid in pids:
            _reap(pid)
        if not any(alive(pid) for pid in pids):
            return
        time.sleep(poll)
