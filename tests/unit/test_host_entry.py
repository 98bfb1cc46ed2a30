"""`st2mistral-local` installed without the [local] extra says what to install."""
from __future__ import annotations

import subprocess
import sys

from st2mistral_local import entry

# Runs the console script's function with Flask and cryptography made unimportable.
WITHOUT_EXTRA = """
import sys
sys.modules["flask"] = None
sys.modules["cryptography"] = None
from st2mistral_local import entry
sys.exit(entry.main(["status"]))
"""


def test_without_the_local_extra_the_command_names_what_to_install():
    proc = subprocess.run([sys.executable, "-c", WITHOUT_EXTRA], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Flask and cryptography" in proc.stderr and "pip install 'st2-mistral[local]'" in proc.stderr
    assert "Traceback" not in proc.stderr and "ModuleNotFoundError" not in proc.stderr


def test_with_the_extra_the_command_runs_the_host_cli(tmp_path, capsys):
    assert entry.missing_libraries() == []
    assert entry.main(["--home", str(tmp_path), "status"]) == 3      # nothing runs: status exit 3
