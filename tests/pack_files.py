"""Write a pack (or any tree of text files) for a test: relative path -> text, under a root directory."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping


def write_files(root: Path, files: Mapping[str, str]) -> Path:
    """Write `files` (relative path -> text) under `root`; returns `root`."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
