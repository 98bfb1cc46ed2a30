"""Fixtures shared by the unit tests of the local host's HTTP API, over the `host` fixture each such module defines."""
from __future__ import annotations

from typing import Any, Dict

import pytest
from host_helpers import admin_headers

from st2mistral_local.api import create_app


@pytest.fixture
def client(host: Any) -> Any:
    """A Flask test client of the host's API (StackStorm's /api/v1, /auth/v1, ...)."""
    return create_app(host).test_client()


@pytest.fixture
def admin(host: Any, client: Any) -> Dict[str, str]:
    """The header of a fresh st2admin token on that host."""
    return admin_headers(client, host)
