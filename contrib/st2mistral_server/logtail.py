"""Read the last lines of a log file for error messages."""
from __future__ import annotations

from pathlib import Path


def tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of `path` ("" when it does not exist)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
