"""The host's own synchronous runners: local-shell-cmd (core.local, core.echo) and noop (core.noop)."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import uuid
from typing import Any, Dict, Optional

from mistral_v2 import seam

# What a command inherits from the host's environment: what a service's environment would hold
# (StackStorm's local runner copies st2actionrunner's, a systemd service's), never the user's
# shell variables (ST2_API_KEY, cloud credentials, ...).
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ")


def clean_env() -> Dict[str, str]:
    """The base environment of a `core.local` command (see INHERITED_ENV)."""
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env


class NoopRunner(seam.ActionRunner):
    """Does nothing and succeeds."""

    def run(self, action_parameters: Dict[str, Any]) -> seam.RunnerResult:
        result = {"failed": False, "succeeded": True, "return_code": 0, "stdout": "", "stderr": ""}
        return seam.LIVEACTION_STATUS_SUCCEEDED, result, {}


class LocalShellCommandRunner(seam.ActionRunner):
    """Runs `cmd` through /bin/sh on this machine; kill on timeout or cancel."""

    def __init__(self, runner_id: str) -> None:
        super().__init__(runner_id)
        self._proc: Optional[subprocess.Popen] = None
        self._canceled = threading.Event()
        self._lock = threading.Lock()

    def run(self, action_parameters: Dict[str, Any]) -> seam.RunnerResult:
        params = dict(self.runner_parameters or {})
        cmd = params.get("cmd")
        if not cmd:
            refused = {"error": "local-shell-cmd needs a non-empty \"cmd\" parameter", "failed": True,
                       "succeeded": False, "return_code": None, "stdout": "", "stderr": ""}
            return seam.LIVEACTION_STATUS_FAILED, refused, {}
        timeout = params.get("timeout") or 60
        env = clean_env()
        env.update({str(k): str(v) for k, v in (params.get("env") or {}).items()})
        env["ST2_ACTION_EXECUTION_ID"] = str(self.execution_id)
        if getattr(self.action, "pack", None):
            env["ST2_ACTION_PACK_NAME"] = str(self.action.pack)
        if getattr(self.auth_token, "token", None):
            env["ST2_ACTION_AUTH_TOKEN"] = self.auth_token.token
        with self._lock:
            if self._canceled.is_set():
                return seam.LIVEACTION_STATUS_CANCELED, {"error": "Canceled before it started."}, {}
            self._proc = subprocess.Popen(
                cmd, shell=True, cwd=params.get("cwd") or None, env=env, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, start_new_session=True,
            )
        timed_out = False
        try:
            stdout, stderr = self._proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._kill()
            stdout, stderr = self._proc.communicate()
        code = self._proc.returncode
        result: Dict[str, Any] = {
            "stdout": _strip(stdout), "stderr": _strip(stderr), "return_code": code,
            "succeeded": code == 0 and not timed_out, "failed": code != 0 or timed_out,
        }
        if timed_out:
            result["error"] = "Action failed to complete in %s seconds" % timeout
            return seam.LIVEACTION_STATUS_TIMED_OUT, result, {}
        if self._canceled.is_set():
            return seam.LIVEACTION_STATUS_CANCELED, result, {}
        status = seam.LIVEACTION_STATUS_SUCCEEDED if code == 0 else seam.LIVEACTION_STATUS_FAILED
        return status, result, {}

    def _kill(self) -> None:
        if self._proc and self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cancel(self) -> seam.RunnerResult:
        with self._lock:
            self._canceled.set()
            self._kill()
        return seam.LIVEACTION_STATUS_CANCELED, getattr(self.liveaction, "result", None) or {}, {}


def _strip(text: Optional[str]) -> str:
    return (text or "").rstrip("\n")


def get_runner(name: str) -> seam.ActionRunner:
    """A new built-in runner object by runner type name."""
    if name == "noop":
        return NoopRunner(str(uuid.uuid4()))
    if name == "local-shell-cmd":
        return LocalShellCommandRunner(str(uuid.uuid4()))
    raise KeyError(name)
