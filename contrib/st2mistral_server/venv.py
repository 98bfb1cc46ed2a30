"""Create or reuse the Mistral virtualenv and keep this repo's runner and plugin installed in it."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from mistral_v2.exceptions import ConfigurationError
from st2mistral_server import paths
from st2mistral_server.logtail import tail

MARKER = ".st2mistral-venv.json"
BASE_REQUIREMENTS = [f"mistral=={paths.MISTRAL_VERSION}", "psycopg2-binary>=2.9"]
DEP_FILES = ("setup.py", "setup.cfg", "pyproject.toml", "requirements.txt")
SKIP_PARTS = {"__pycache__", "build", "dist", ".pytest_cache", ".git"}


def say(message: str) -> None:
    """Tell the operator what is happening (stderr, one line)."""
    print(f"st2mistral-server: {message}", file=sys.stderr, flush=True)


def _local_packages(repo: Path) -> Dict[str, Dict[str, Any]]:
    """The local distributions to install: the runner (always) and the plugin (if present)."""
    pkgs: Dict[str, Dict[str, Any]] = {
        "runner": {"path": repo, "src": [repo / "runners" / "mistral_v2"]},
    }
    plugin = repo / "contrib" / "st2mistral_plugin"
    if (plugin / "setup.py").is_file() or (plugin / "pyproject.toml").is_file():
        pkgs["plugin"] = {"path": plugin, "src": [plugin]}
    return pkgs


def _files(roots: Sequence[Path]) -> List[Path]:
    out: List[Path] = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).parts
            if path.is_file() and not SKIP_PARTS.intersection(rel) and path.suffix != ".pyc" \
                    and not any(p.endswith(".egg-info") for p in rel):
                out.append(path)
    return out


def _digest(files: Sequence[Path], base: Path) -> str:
    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def fingerprints(repo: Path) -> Dict[str, Dict[str, str]]:
    """Per local package: a hash of its dependency files ("deps") and of its sources ("src")."""
    result = {}
    for name, pkg in _local_packages(repo).items():
        path = pkg["path"]
        deps = [path / f for f in DEP_FILES if (path / f).is_file()]
        result[name] = {
            "path": str(path),
            "deps": _digest(deps, path),
            "src": _digest(_files(pkg["src"]), path),
        }
    return result


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_logged(cmd: List[str], log: Path, reason: str) -> None:
    """Run `cmd` appending its output to `log`; on failure say why with the log's tail and raise."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(("\n$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if rc != 0:
        last = tail(log, 25)
        say(f"{reason} failed (exit {rc}); last lines of {log}:\n{last}")
        raise ConfigurationError(f"{reason} failed (exit {rc}); see {log}:\n{last}")


def _read_marker(venv: Path) -> Optional[dict]:
    try:
        data = json.loads((venv / MARKER).read_text())
    except (OSError, ValueError):
        return None
    python = venv / "bin" / "python"
    if data.get("mistral") != paths.MISTRAL_VERSION or not python.exists():
        return None
    if subprocess.call([str(python), "-c", "pass"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL) != 0:
        return None
    return data


def _write_marker(venv: Path, data: dict) -> None:
    tmp = venv / (MARKER + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, venv / MARKER)


COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", ".st2mistral", "build", "dist", "*.egg-info",
                                     "__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")


@contextmanager
def _clean_copy(paths_: Sequence[str]) -> Iterator[List[str]]:
    """Copies of the local source trees, so pip never builds from (or writes into) the work tree."""
    with tempfile.TemporaryDirectory(prefix="st2mistral-src-") as tmp:
        out = []
        for i, src in enumerate(paths_):
            dst = Path(tmp) / f"{i}-{Path(src).name}"
            shutil.copytree(src, dst, ignore=COPY_IGNORE, symlinks=True)
            out.append(str(dst))
        yield out


def _pip(venv: Path) -> List[str]:
    return [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]


def _create(venv: Path, repo: Path, fps: Dict[str, Dict[str, str]], log: Path, why: str) -> dict:
    say(f"creating the Mistral {paths.MISTRAL_VERSION} virtualenv at {venv} ({why}); "
        f"this takes a minute, log: {log}")
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    run_logged([sys.executable, "-m", "venv", str(venv)], log, "creating the virtualenv")
    with _clean_copy([fp["path"] for fp in fps.values()]) as local:
        run_logged(_pip(venv) + BASE_REQUIREMENTS + local, log,
                   f"installing mistral=={paths.MISTRAL_VERSION}")
    say(f"Mistral virtualenv ready in {time.monotonic() - started:.0f} s")
    return {"mistral": paths.MISTRAL_VERSION, "python": sys.version.split()[0], "local": fps}


def _refresh(venv: Path, marker: dict, fps: Dict[str, Dict[str, str]], log: Path) -> bool:
    changed = False
    known = marker.get("local", {})
    for name, fp in fps.items():
        old = known.get(name)
        if old == fp:
            continue
        if old is None or old.get("deps") != fp["deps"] or old.get("path") != fp["path"]:
            why = "new" if old is None else "its dependency files changed"
            say(f"installing the {name} package into the Mistral venv ({why})")
            with _clean_copy([fp["path"]]) as (src,):
                run_logged(_pip(venv) + [src], log, f"installing the {name} package")
        else:
            say(f"reinstalling the {name} package into the Mistral venv (sources changed)")
        with _clean_copy([fp["path"]]) as (src,):
            run_logged(_pip(venv) + ["--no-deps", "--force-reinstall", src], log,
                       f"reinstalling the {name} package")
        changed = True
    return changed


def ensure_venv(home: Optional[os.PathLike] = None, repo: Optional[os.PathLike] = None) -> Path:
    """Create (or reuse) the Mistral venv and (re)install the runner/plugin when their sources changed.

    Idempotent and safe to call from parallel processes (a file lock serialises them).
    Returns the venv directory; its `bin/python` runs Mistral.
    """
    venv = paths.venv_dir(home)
    root = paths.repo_root(repo)
    log = paths.home_dir(home) / "logs" / "venv.log"
    with _locked(venv.parent / ".lock"):
        fps = fingerprints(root)
        marker = _read_marker(venv)
        if marker is None:
            why = "missing" if not venv.exists() else "incomplete or for another Mistral version"
            marker = _create(venv, root, fps, log, why)
            _write_marker(venv, marker)
            return venv
        if _refresh(venv, marker, fps, log):
            marker["local"] = fps
            _write_marker(venv, marker)
    return venv
