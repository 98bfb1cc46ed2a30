"""Start, stop and inspect a real Mistral server: `embedded` (one process) or `distributed`."""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from mistral_v2.exceptions import ConfigurationError, MistralError
from st2mistral_server import infra, mistralconf, paths, probe, process
from st2mistral_server.logtail import tail
from st2mistral_server.venv import ensure_venv, run_logged, say

MODES = ("embedded", "distributed")
DISTRIBUTED_SERVICES = ("engine", "executor", "notifier", "api")
START_TIMEOUT = float(os.environ.get("ST2MISTRAL_START_TIMEOUT", "120"))


@dataclass
class ServerInfo:
    """A running Mistral: its v2 API url, processes, logs and run directory."""

    url: str
    mode: str
    port: int
    pids: List[int]
    logs: Dict[str, str]
    run_dir: str
    config_file: str
    venv: str
    database: Optional[str] = None
    started_at: float = field(default_factory=time.time)
    startup_seconds: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready dict (the state file format)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ServerInfo":
        """Rebuild from `to_dict()` output; unknown keys are ignored."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def running(self) -> bool:
        """True while every process of this server is alive."""
        return bool(self.pids) and all(process.is_ours(p, self.config_file) for p in self.pids)


KEEP_RUN_DIRS = 20
RUN_INFO = "server.json"


def prune_run_dirs(home: Optional[os.PathLike] = None, keep: int = KEEP_RUN_DIRS) -> List[Path]:
    """Delete all but the newest `keep` run dirs of stopped servers (kept logs); returns removed."""
    stopped = []
    young = time.time() - START_TIMEOUT - 60  # may be a server still starting in another process
    for run in paths.runs_dir(home).iterdir():
        if not run.is_dir() or run.stat().st_mtime > young:
            continue
        try:
            info = ServerInfo.from_dict(json.loads((run / RUN_INFO).read_text()))
            if info.running():
                continue
        except (OSError, ValueError, TypeError):
            pass  # no readable info: a dir from a failed start or another tool version
        stopped.append(run)
    stopped.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    removed = stopped[keep:]
    for run in removed:
        shutil.rmtree(run, ignore_errors=True)
    return removed


def _new_run_dir(home: Path, mode: str) -> Path:
    run = paths.runs_dir(home) / f"{mode}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    run.mkdir(parents=True, mode=0o700)
    return run


def _failure(reason: str, logs: Dict[str, str]) -> MistralError:
    parts = [reason]
    for name, path in logs.items():
        text = tail(Path(path), 15)
        if text:
            parts.append(f"--- last lines of {name} log {path}:\n{text}")
    message = "\n".join(parts)
    say(message)
    return MistralError(message)


def _wait_ready(info: ServerInfo, procs: list, ready_marker: Optional[Path], deadline: float) -> None:
    while time.monotonic() < deadline:
        for name, proc in procs:
            if proc.poll() is not None:
                raise _failure(f"Mistral {name} process exited with code {proc.returncode} "
                               "during startup", info.logs)
        marker_ok = ready_marker is None or "READY" in tail(ready_marker, 50)
        if marker_ok and probe.api_ok(info.url):
            return
        time.sleep(0.2)
    raise _failure(f"Mistral did not become ready within {START_TIMEOUT:.0f} s", info.logs)


def _start_embedded(info: ServerInfo, run: Path, db_path: Optional[Path] = None,
                    st2_api_url: Optional[str] = None) -> list:
    db_file = paths.private_file(db_path or run / "mistral.db")  # SQLite keeps an existing file's mode
    paths.private_file(run / "mistral.log")
    conf = mistralconf.render(port=info.port, db_url=f"sqlite:///{db_file}",
                              transport_url="fake:/", log_file=run / "mistral.log", st2_api_url=st2_api_url)
    mistralconf.write(Path(info.config_file), conf)
    info.logs = {"mistral": str(run / "mistral.log"), "launcher": str(run / "launcher.out")}
    cmd = [str(Path(info.venv) / "bin" / "python"), str(paths.launcher_path()),
           "--config-file", info.config_file, "--init-db"]
    proc = process.spawn(cmd, run / "launcher.out", cwd=run)
    info.pids = [proc.pid]
    return [("embedded", proc)]


def _start_distributed(info: ServerInfo, run: Path, st2_api_url: Optional[str] = None) -> list:
    reason = infra.distributed_unavailable_reason()
    if reason:
        raise ConfigurationError(reason)
    namespace = f"st2mistral_{uuid.uuid4().hex[:12]}"
    venv = Path(info.venv)
    infra.create_database(venv, namespace)
    info.database = namespace
    conf = mistralconf.render(port=info.port, db_url=infra.db_url(namespace),
                              transport_url=infra.RABBIT_URL, log_file=None, namespace=namespace,
                              st2_api_url=st2_api_url)
    mistralconf.write(Path(info.config_file), conf)
    info.logs = {"db-manage": str(run / "db-manage.log")}
    run_logged([str(venv / "bin" / "mistral-db-manage"), "--config-file", info.config_file,
          "upgrade", "head"], run / "db-manage.log", "mistral-db-manage upgrade head")
    procs = []
    for service in DISTRIBUTED_SERVICES:
        log = run / f"mistral-{service}.log"
        info.logs[service] = str(log)
        info.logs[f"{service}-console"] = str(run / f"{service}.out")
        cmd = [str(venv / "bin" / "mistral-server"), "--config-file", info.config_file,
               "--server", service, "--log-file", str(log)]
        proc = process.spawn(cmd, run / f"{service}.out", cwd=run)
        info.pids.append(proc.pid)
        procs.append((service, proc))
    return procs


def start(mode: str = "embedded", home: Optional[os.PathLike] = None,
          port: Optional[int] = None, venv: Optional[os.PathLike] = None,
          db_path: Optional[os.PathLike] = None, st2_api_url: Optional[str] = None) -> ServerInfo:
    """Start Mistral in `mode` on 127.0.0.1 (`port` or a free one) and wait until it serves.

    Embedded mode keeps its SQLite database at `db_path` when given (it then outlives `stop`,
    so a later start continues the same executions); otherwise in the throw-away run directory.

    Distributed mode also waits until a probe workflow completes (engine, executor and notifier
    consume from RabbitMQ; skipped with authentication on: the StackStorm that would accept the
    probe's credentials is usually started after Mistral). `st2_api_url` turns on Mistral's
    authentication with that StackStorm (plugin auth handler `st2`). On failure everything
    started is stopped and MistralError carries the reason and the logs' tails; bad arguments
    raise ConfigurationError.
    """
    if mode not in MODES:
        raise ConfigurationError(f"unknown Mistral mode {mode!r}; choose one of {', '.join(MODES)}")
    if port is not None and not (0 < int(port) < 65536):
        raise ConfigurationError(f"invalid port {port!r}")
    home_path = paths.home_dir(home)
    venv_path = Path(venv) if venv else ensure_venv(home_path)
    run = _new_run_dir(home_path, mode)
    info = ServerInfo(url="", mode=mode, port=int(port or process.free_port()), pids=[], logs={},
                      run_dir=str(run), config_file=str(run / "mistral.conf"), venv=str(venv_path))
    info.url = f"http://127.0.0.1:{info.port}/v2"
    prune_run_dirs(home_path)
    began = time.monotonic()
    try:
        if mode == "embedded":
            procs = _start_embedded(info, run, Path(db_path) if db_path else None, st2_api_url)
            _wait_ready(info, procs, run / "launcher.out", began + START_TIMEOUT)
        else:
            procs = _start_distributed(info, run, st2_api_url)
            _wait_ready(info, procs, None, began + START_TIMEOUT)
            if not st2_api_url and not probe.workflow_roundtrip(info.url, began + START_TIMEOUT):
                raise _failure("distributed Mistral did not run a probe workflow to SUCCESS "
                               f"within {START_TIMEOUT:.0f} s", info.logs)
    except BaseException:
        stop(info, keep_run_dir=True)
        raise
    info.startup_seconds = round(time.monotonic() - began, 2)
    (run / RUN_INFO).write_text(json.dumps(info.to_dict(), indent=2))
    say(f"Mistral ({mode}) ready at {info.url} in {info.startup_seconds:.1f} s; logs in {run}")
    return info


def stop(info: ServerInfo, keep_run_dir: bool = False) -> None:
    """Stop every process of `info`, drop its database (distributed) and remove its run dir.

    Idempotent; only processes whose command line names this run's config file are signalled.
    """
    process.terminate(list(info.pids), info.config_file)
    if info.database:
        try:
            infra.drop_database(Path(info.venv), info.database)
        except ConfigurationError as exc:
            say(f"could not drop database {info.database}: {exc}")
    if not keep_run_dir and os.environ.get("ST2MISTRAL_KEEP_RUN") != "1":
        shutil.rmtree(info.run_dir, ignore_errors=True)


def read_state(home: Optional[os.PathLike] = None) -> Optional[ServerInfo]:
    """The server recorded by `st2mistral-server up`, or None when there is no state file."""
    try:
        return ServerInfo.from_dict(json.loads(paths.state_file(home).read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"unreadable state file {paths.state_file(home)}: {exc}") from exc


def write_state(info: ServerInfo, home: Optional[os.PathLike] = None) -> Path:
    """Record `info` as the `up`-managed server."""
    path = paths.state_file(home)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info.to_dict(), indent=2))
    os.replace(tmp, path)
    return path


def clear_state(home: Optional[os.PathLike] = None) -> None:
    """Forget the `up`-managed server."""
    paths.state_file(home).unlink(missing_ok=True)


def status(home: Optional[os.PathLike] = None) -> Optional[ServerInfo]:
    """The `up`-managed server if all its processes are alive and its API answers, else None."""
    info = read_state(home)
    if info is None or not info.running() or not probe.api_ok(info.url):
        return None
    return info
