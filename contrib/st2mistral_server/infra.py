"""PostgreSQL and RabbitMQ for distributed mode: reachability, per-run database create/drop."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from mistral_v2.exceptions import ConfigurationError
from st2mistral_server.process import reachable

PG_HOST = os.environ.get("ST2MISTRAL_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ST2MISTRAL_PG_PORT", "5432"))
PG_USER = os.environ.get("ST2MISTRAL_PG_USER", "postgres")
RABBIT_URL = os.environ.get("ST2MISTRAL_RABBIT_URL", "rabbit://guest:guest@127.0.0.1:5672/")
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_SQL_SCRIPT = """
import sys, psycopg2
conn = psycopg2.connect(host=sys.argv[1], port=int(sys.argv[2]), user=sys.argv[3], dbname="postgres",
                        connect_timeout=10)
conn.autocommit = True
conn.cursor().execute(sys.argv[4])
"""


def distributed_unavailable_reason() -> Optional[str]:
    """Why distributed mode cannot run here (PostgreSQL/RabbitMQ unreachable), or None."""
    rabbit = urlparse(RABBIT_URL.replace("rabbit://", "amqp://", 1))
    missing = []
    if not reachable(PG_HOST, PG_PORT):
        missing.append(f"PostgreSQL at {PG_HOST}:{PG_PORT}")
    if not reachable(rabbit.hostname or "127.0.0.1", rabbit.port or 5672):
        missing.append(f"RabbitMQ at {rabbit.hostname}:{rabbit.port or 5672}")
    if missing:
        return "distributed Mistral needs " + " and ".join(missing) + " (not reachable)"
    return None


def db_url(name: str) -> str:
    """SQLAlchemy URL of database `name` on the configured PostgreSQL."""
    return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def _sql(venv: Path, statement: str) -> None:
    cmd = [str(venv / "bin" / "python"), "-c", _SQL_SCRIPT, PG_HOST, str(PG_PORT), PG_USER, statement]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        err = (done.stderr or done.stdout).strip().splitlines()
        raise ConfigurationError(f"PostgreSQL statement {statement!r} failed: {err[-1] if err else '?'}")


def _checked(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ConfigurationError(f"invalid database name {name!r} (want [a-z_][a-z0-9_]*)")
    return name


def create_database(venv: Path, name: str) -> None:
    """Create the empty database `name` (psycopg2 from the Mistral venv)."""
    _sql(venv, f'CREATE DATABASE "{_checked(name)}"')


def drop_database(venv: Path, name: str) -> None:
    """Drop database `name`, disconnecting leftover sessions."""
    _sql(venv, f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')
