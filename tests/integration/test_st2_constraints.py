"""The runner installs under StackStorm 3.9's pinned requirements and loads as `mistral-v2`."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("python3.11") is None, reason="python3.11 not on PATH")
def test_runner_installs_and_loads_under_st2_3_9_pins():
    done = subprocess.run(["bash", str(ROOT / "tools" / "check_st2_constraints.sh")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "runner: mistral_v2.mistral_v2.MistralRunner" in done.stdout
