"""`st2mistral-local up/status/down` (host in the background) on the session's real Mistral."""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import requests

import st2mistral_server
from st2mistral_local import cli, server
from st2mistral_server import process

pytestmark = pytest.mark.integration


@pytest.fixture
def reuse_session_mistral(mistral_server, monkeypatch):
    """`up` gets the session's Mistral instead of starting a second one; `down` must not stop it."""
    stopped = []
    monkeypatch.setattr(st2mistral_server, "start", lambda mode="embedded", home=None, **_: mistral_server)
    monkeypatch.setattr(st2mistral_server, "stop", lambda info, keep_run_dir=False: stopped.append(info.url))
    return stopped


def _exports(text):
    pairs = [line[len("export "):].split("=", 1) for line in text.splitlines() if line.startswith("export ")]
    return dict(pairs)


def test_up_prints_exports_the_st2_cli_can_use_then_down_stops_everything(tmp_path, reuse_session_mistral,
                                                                           capsys, st2_host):
    home = str(tmp_path / "home")
    assert cli.main(["--home", home, "up"]) == 0
    exports = _exports(capsys.readouterr().out)
    assert set(exports) == {"ST2_BASE_URL", "ST2_API_URL", "ST2_AUTH_URL", "ST2_API_KEY"}
    state = server.read_state(os.path.join(home, "local"))
    try:
        assert process.alive(state["pid"])
        (tmp_path / "st2.conf").write_text("[cli]\ncache_token = False\n")
        env = dict(os.environ, HOME=str(tmp_path), ST2_CONFIG_FILE=str(tmp_path / "st2.conf"), **exports)
        out = subprocess.run([st2_host.st2_bin, "run", "core.echo", "message=from up", "--json"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert json.loads(out.stdout)["result"]["stdout"] == "from up"
        assert cli.main(["--home", home, "status"]) == 0
        assert "running at %s" % exports["ST2_BASE_URL"] in capsys.readouterr().out
        # A second `up` prints a new key and revokes the one the first printed.
        assert cli.main(["--home", home, "up"]) == 0
        again = _exports(capsys.readouterr().out)
        assert again["ST2_API_KEY"] != exports["ST2_API_KEY"]
        actions = exports["ST2_API_URL"] + "/actions"
        assert requests.get(actions, headers={"St2-Api-Key": exports["ST2_API_KEY"]}, timeout=10).status_code == 401
        assert requests.get(actions, headers={"St2-Api-Key": again["ST2_API_KEY"]}, timeout=10).status_code == 200
    finally:
        assert cli.main(["--home", home, "down"]) == 0
    assert not process.alive(state["pid"])
    assert reuse_session_mistral == [st2_host.mistral_url]
    assert cli.main(["--home", home, "status"]) == 3


def test_up_with_a_broken_pack_reports_it_and_leaves_nothing_running(tmp_path, reuse_session_mistral, capsys):
    pack = tmp_path / "broken"
    (pack / "actions").mkdir(parents=True)
    (pack / "pack.yaml").write_text("ref: broken\n")
    (pack / "actions" / "a.yaml").write_text("name: a\nrunner_type: no-such-runner\n")
    home = str(tmp_path / "home")
    assert cli.main(["--home", home, "up", "--packs", str(pack)]) == 1
    err = capsys.readouterr().err
    assert 'unknown runner_type "no-such-runner"' in err
    assert reuse_session_mistral  # the Mistral it started was stopped again
    assert cli.main(["--home", home, "status"]) == 3
    assert cli.main(["--home", home, "up", "--packs", str(tmp_path / "nowhere")]) == 2
    assert "not a pack directory" in capsys.readouterr().err
