"""Unit tests of st2mistral_server: config rendering, venv refresh decisions, safety checks."""
from __future__ import annotations

import configparser
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from mistral_v2.exceptions import ConfigurationError, MistralError
from st2mistral_server import cli, infra, mistralconf, paths, process, server, venv, waiting


def _conf_text(**kw) -> configparser.ConfigParser:
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string(_render_to_text(mistralconf.render(**kw)))
    return parsed


def _render_to_text(conf: configparser.ConfigParser) -> str:
    import io

    buf = io.StringIO()
    conf.write(buf)
    return buf.getvalue()


def test_config_embedded_allows_only_the_st2_address_of_loopback_keeps_link_local_denied(tmp_path):
    conf = _conf_text(port=1234, db_url="sqlite:////x.db", transport_url="fake:/",
                      log_file=tmp_path / "m.log")
    assert conf["api"]["host"] == "127.0.0.1" and conf["api"]["port"] == "1234"
    denied = conf["action_std_http"]["denied_cidrs"].split(",")
    assert "169.254.0.0/16" in denied and "fe80::/10" in denied
    import ipaddress

    nets = [ipaddress.ip_network(c) for c in denied]
    blocked = lambda a: any(ipaddress.ip_address(a) in n for n in nets)  # noqa: E731
    assert not blocked("127.0.0.1")  # the StackStorm API's address (the local host's)
    assert blocked("127.0.0.2") and blocked("127.255.255.254") and blocked("::1") and blocked("169.254.169.254")
    elsewhere = _conf_text(port=1, db_url="sqlite://", transport_url="fake:/", log_file=None,
                           st2_api_url="http://10.1.2.3:9101/api/v1")["action_std_http"]["denied_cidrs"]
    assert elsewhere.split(",") == ["127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10"]
    assert conf["pecan"]["auth_enable"] == "false"
    assert conf["DEFAULT"]["log_file"] == str(tmp_path / "m.log")
    assert "control_exchange" not in conf["DEFAULT"]


def test_config_distributed_namespace_isolates_exchange_and_topics():
    conf = _conf_text(port=1, db_url="postgresql+psycopg2://p@h/db", transport_url="rabbit://x/",
                      log_file=None, namespace="st2mistral_abc")
    assert conf["DEFAULT"]["control_exchange"] == "st2mistral_abc"
    for section in ("engine", "executor", "notifier"):
        assert conf[section]["topic"] == f"st2mistral_abc_{section}"
    assert "log_file" not in conf["DEFAULT"]


def test_config_file_is_owner_only(tmp_path):
    path = mistralconf.write(tmp_path / "m.conf", mistralconf.render(
        port=1, db_url="sqlite://", transport_url="fake:/", log_file=None))
    assert path.stat().st_mode & 0o077 == 0


def test_database_names_are_validated():
    with pytest.raises(ConfigurationError, match="invalid database name"):
        infra.drop_database(Path("/nonexistent"), 'x"; DROP DATABASE postgres; --')


def test_unknown_mode_and_bad_port_are_clear_errors(tmp_path):
    with pytest.raises(ConfigurationError, match="unknown Mistral mode 'bogus'"):
        server.start(mode="bogus", home=tmp_path)
    with pytest.raises(ConfigurationError, match="invalid port"):
        server.start(mode="embedded", home=tmp_path, port=70000)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_repo_root_found_and_bad_override_ignored(monkeypatch, tmp_path):
    root = paths.repo_root()
    assert (root / "runners" / "mistral_v2").is_dir()
    monkeypatch.setenv(paths.REPO_ENV, str(tmp_path))  # not a source tree: falls back
    assert paths.repo_root() == root


def test_venv_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.VENV_ENV, str(tmp_path / "v"))
    assert paths.venv_dir() == tmp_path / "v"


def _fake_repo(tmp_path: Path) -> Path:
    (tmp_path / "runners" / "mistral_v2").mkdir(parents=True)
    (tmp_path / "runners" / "mistral_v2" / "a.py").write_text("A = 1\n")
    (tmp_path / "setup.py").write_text("# setup\n")
    (tmp_path / "requirements.txt").write_text("requests\n")
    return tmp_path


def test_fingerprints_split_sources_from_dependency_files(tmp_path):
    repo = _fake_repo(tmp_path)
    first = venv.fingerprints(repo)["runner"]
    (repo / "runners" / "mistral_v2" / "__pycache__").mkdir()
    (repo / "runners" / "mistral_v2" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"x")
    assert venv.fingerprints(repo)["runner"] == first          # caches are ignored
    (repo / "runners" / "mistral_v2" / "a.py").write_text("A = 2\n")
    second = venv.fingerprints(repo)["runner"]
    assert second["src"] != first["src"] and second["deps"] == first["deps"]
    (repo / "requirements.txt").write_text("requests>=2\n")
    assert venv.fingerprints(repo)["runner"]["deps"] != second["deps"]
    assert "plugin" not in venv.fingerprints(repo)


def _recorder(monkeypatch):
    calls = []
    monkeypatch.setattr(venv, "run_logged", lambda cmd, log, reason: calls.append(cmd))
    return calls


def test_refresh_source_change_reinstalls_without_deps(monkeypatch, tmp_path):
    calls = _recorder(monkeypatch)
    r = str(_fake_repo(tmp_path / "r"))
    fps = {"runner": {"path": r, "deps": "d1", "src": "s2"}}
    marker = {"local": {"runner": {"path": r, "deps": "d1", "src": "s1"}}}
    assert venv._refresh(tmp_path, marker, fps, tmp_path / "log") is True
    assert len(calls) == 1
    assert "--no-deps" in calls[0] and "--force-reinstall" in calls[0]


def test_refresh_dependency_change_installs_with_deps_first(monkeypatch, tmp_path):
    calls = _recorder(monkeypatch)
    (tmp_path / "p").mkdir()
    fps = {"plugin": {"path": str(tmp_path / "p"), "deps": "d2", "src": "s1"}}
    marker = {"local": {"runner": {"path": "/r", "deps": "d", "src": "s"}}}  # plugin is new
    assert venv._refresh(tmp_path, marker, fps, tmp_path / "log") is True
    assert len(calls) == 2 and "--no-deps" not in calls[0] and "--no-deps" in calls[1]


def test_refresh_nothing_changed_runs_nothing(monkeypatch, tmp_path):
    calls = _recorder(monkeypatch)
    fps = {"runner": {"path": "/r", "deps": "d", "src": "s"}}
    assert venv._refresh(tmp_path, {"local": json.loads(json.dumps(fps))}, fps, tmp_path) is False
    assert calls == []


def test_run_logged_failure_names_reason_and_log_tail(tmp_path):
    log = tmp_path / "pip.log"
    with pytest.raises(ConfigurationError, match=r"(?s)installing x failed \(exit 3\).*oops"):
        venv.run_logged([sys.executable, "-c", "print('oops'); raise SystemExit(3)"], log,
                        "installing x")


def test_terminate_never_signals_a_process_that_is_not_ours(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             start_new_session=True)
    try:
        assert process.terminate([other.pid], token="/no/such/config.conf") == []
        assert other.poll() is None
        assert process.terminate([other.pid], token="time.sleep(30)") == [other.pid]
        assert other.wait(timeout=10) is not None
    finally:
        if other.poll() is None:
            other.kill()


def test_free_port_is_bindable():
    import socket

    port = process.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


class _FakeExecutions:
    def __init__(self, states):
        self.states = list(states)

    def get(self, execution_id):
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return SimpleNamespace(id=execution_id, state=state, state_info=f"info-{state}")


def test_wait_for_state_returns_wanted_state():
    client = SimpleNamespace(executions=_FakeExecutions(["RUNNING", "RUNNING", "SUCCESS"]))
    assert waiting.wait_for_state(client, "e1", "SUCCESS", timeout=5, interval=0).state == "SUCCESS"


def test_wait_for_state_fails_fast_on_unwanted_terminal_state():
    client = SimpleNamespace(executions=_FakeExecutions(["RUNNING", "ERROR"]))
    with pytest.raises(MistralError, match="ended ERROR .*info-ERROR"):
        waiting.wait_for_state(client, "e1", {"SUCCESS"}, timeout=60, interval=0)


def test_wait_for_state_times_out_naming_last_state():
    client = SimpleNamespace(executions=_FakeExecutions(["RUNNING"]))
    with pytest.raises(MistralError, match="still RUNNING after 0 s"):
        waiting.wait_for_state(client, "e1", "SUCCESS", timeout=0, interval=0)


def test_state_file_roundtrip_and_unreadable_state(tmp_path):
    info = server.ServerInfo(url="http://127.0.0.1:1/v2", mode="embedded", port=1, pids=[1],
                             logs={}, run_dir=str(tmp_path), config_file="c", venv="v")
    server.write_state(info, tmp_path)
    assert server.read_state(tmp_path) == info
    paths.state_file(tmp_path).write_text("{not json")
    with pytest.raises(ConfigurationError, match="unreadable state file"):
        server.read_state(tmp_path)
    server.clear_state(tmp_path)
    assert server.read_state(tmp_path) is None


def test_cli_status_reports_stale_state(tmp_path, capsys):
    info = server.ServerInfo(url="http://127.0.0.1:9/v2", mode="embedded", port=9,
                             pids=[2 ** 22 + 7], logs={}, run_dir=str(tmp_path / "r"),
                             config_file=str(tmp_path / "c"), venv="v")
    server.write_state(info, tmp_path)
    assert cli.main(["--home", str(tmp_path), "status"]) == 3
    assert "NOT healthy" in capsys.readouterr().out
    assert cli.main(["--home", str(tmp_path), "down"]) == 0
    assert server.read_state(tmp_path) is None


def test_prune_keeps_newest_stopped_runs_and_running_ones(tmp_path, monkeypatch):
    import os
    import time as _time

    runs = paths.runs_dir(tmp_path)
    old = _time.time() - 3600
    for i in range(5):
        run = runs / f"embedded-{i}"
        run.mkdir()
        os.utime(run, (old + i, old + i))
    live = runs / "embedded-live"
    live.mkdir()
    info = server.ServerInfo(url="u", mode="embedded", port=1, pids=[os.getpid()], logs={},
                             run_dir=str(live), config_file="pytest", venv="v")
    (live / server.RUN_INFO).write_text(json.dumps(info.to_dict()))
    os.utime(live, (old - 100, old - 100))
    fresh = runs / "embedded-starting"
    fresh.mkdir()
    removed = server.prune_run_dirs(tmp_path, keep=2)
    assert sorted(p.name for p in removed) == ["embedded-0", "embedded-1", "embedded-2"]
    assert sorted(p.name for p in runs.iterdir()) == [
        "embedded-3", "embedded-4", "embedded-live", "embedded-starting"]


def test_distributed_refuses_with_reason_when_postgres_unreachable(tmp_path, monkeypatch):
    monkeypatch.setattr(infra, "PG_PORT", process.free_port())  # nothing listens there
    reason = infra.distributed_unavailable_reason()
    assert reason and "PostgreSQL at 127.0.0.1" in reason and "not reachable" in reason
    with pytest.raises(ConfigurationError, match="PostgreSQL at 127.0.0.1"):
        server.start(mode="distributed", home=tmp_path, venv=tmp_path / "venv")
