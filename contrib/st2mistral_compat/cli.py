"""`st2-mistral-compat enable|disable|status`: switch the compat layer of this Python environment."""
from __future__ import annotations

import argparse
import sys
import sysconfig
from pathlib import Path
from typing import List, Optional

PTH_NAME = "st2mistral_compat.pth"
# Loads the hook only while this package is installed (a stale .pth after an uninstall is inert).
PTH_LINE = ("import importlib.util as _u; _u.find_spec('st2mistral_compat') and "
            "__import__('st2mistral_compat.hook').hook.install()\n")


def pth_path() -> Path:
    """The .pth file in this interpreter's site-packages (run with StackStorm's venv python)."""
    return Path(sysconfig.get_paths()["purelib"]) / PTH_NAME


def enable() -> str:
    path = pth_path()
    path.write_text(PTH_LINE)
    return "enabled: %s (takes effect at the next start of each StackStorm service)" % path


def disable() -> str:
    path = pth_path()
    if path.exists():
        path.unlink()
        return "disabled: removed %s (takes effect at the next start of each StackStorm service)" % path
    return "disabled: %s was not there" % path


def status() -> str:
    path = pth_path()
    if not path.exists():
        return "disabled (%s absent)" % path
    if path.read_text() != PTH_LINE:
        return "enabled with an outdated %s: run enable again" % path
    return "enabled (%s)" % path


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="st2-mistral-compat",
        description="Let StackStorm 3.9 pause/resume mistral-v2 executions and re-run their tasks "
                    "(a .pth file in this environment's site-packages; run it with StackStorm's "
                    "virtualenv, e.g. /opt/stackstorm/st2/bin/st2-mistral-compat enable).")
    parser.add_argument("command", choices=("enable", "disable", "status"))
    args = parser.parse_args(argv)
    try:
        print({"enable": enable, "disable": disable, "status": status}[args.command]())
    except OSError as exc:
        print("st2-mistral-compat: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
