"""A real `pip install st2-mistral` without the [local] extra: `st2mistral-local` names what to install."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_st2mistral_local_without_the_local_extra_says_what_to_install(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                          "-q", REPO], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]
    flask = subprocess.run([str(venv / "bin" / "python"), "-c", "import flask"], capture_output=True)
    assert flask.returncode != 0                         # the [local] extra really is absent
    proc = subprocess.run([str(venv / "bin" / "st2mistral-local"), "status"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "pip install 'st2-mistral[local]'" in proc.stderr and "Flask" in proc.stderr
    assert "Traceback" not in proc.stderr
