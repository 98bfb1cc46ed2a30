"""Where st2mistral-server keeps its virtualenv, run directories and state file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from mistral_v2.exceptions import ConfigurationError

MISTRAL_VERSION = "23.0.0"
HOME_ENV = "ST2MISTRAL_HOME"
REPO_ENV = "ST2MISTRAL_REPO"
VENV_ENV = "ST2MISTRAL_VENV"


def home_dir(home: Optional[os.PathLike] = None) -> Path:
    """The st2mistral home: `home`, else $ST2MISTRAL_HOME, else ~/.st2mistral (created)."""
    raw = home or os.environ.get(HOME_ENV) or Path.home() / ".st2mistral"
    path = Path(raw).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def venv_dir(home: Optional[os.PathLike] = None) -> Path:
    """The Mistral virtualenv: $ST2MISTRAL_VENV, else <home>/venvs/mistral-<version>."""
    if os.environ.get(VENV_ENV):
        return Path(os.environ[VENV_ENV]).expanduser().resolve()
    return home_dir(home) / "venvs" / f"mistral-{MISTRAL_VERSION}"


def runs_dir(home: Optional[os.PathLike] = None) -> Path:
    """The parent of every server's run directory (config, database, logs)."""
    path = home_dir(home) / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_file(home: Optional[os.PathLike] = None) -> Path:
    """The state file of the server managed by `st2mistral-server up/down`."""
    return home_dir(home) / "server.json"


def launcher_path() -> Path:
    """The embedded launcher shipped as package data (run by the Mistral venv's python)."""
    return Path(__file__).resolve().parent / "launcher.py"


def repo_root(repo: Optional[os.PathLike] = None) -> Path:
    """The st2-mistral source tree: `repo`, else $ST2MISTRAL_REPO, else found above this file."""
    candidates = [repo, os.environ.get(REPO_ENV)]
    candidates += [str(p) for p in Path(__file__).resolve().parents]
    for cand in candidates:
        if not cand:
            continue
        path = Path(cand).expanduser().resolve()
        if (path / "setup.py").is_file() and (path / "runners" / "mistral_v2").is_dir():
            return path
    raise ConfigurationError(
        "cannot find the st2-mistral source tree (needed to install the runner into the Mistral "
        f"venv); set ${REPO_ENV} to the directory holding setup.py"
    )


def private_file(path: "Union[str, os.PathLike]") -> Path:
    """Create `path` (empty) readable by its owner only, unless it exists; never world-readable
    in between, as a chmod after writing would be. Returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    return target
