"""Mistral's `st2` auth handler against REAL StackStorm 3.9: its tokens and API keys are accepted,
anything else is a 401 (issue 17)."""
from __future__ import annotations

import pytest
import requests

from st2mistral_server import server

pytestmark = [pytest.mark.st2, pytest.mark.integration]


@pytest.fixture
def authed_mistral(st2_stack):
    """An embedded Mistral that authenticates every call with the real StackStorm."""
    info = server.start(mode="embedded", st2_api_url=st2_stack.api_url)
    yield info
    server.stop(info)


def test_real_stackstorm_token_and_api_key_accepted_anything_else_refused(st2_stack, authed_mistral):
    url = authed_mistral.url + "/workflows"
    token, key = st2_stack.env["ST2_AUTH_TOKEN"], st2_stack.env["ST2_API_KEY"]
    assert requests.get(url, headers={"X-Auth-Token": token}, timeout=30).status_code == 200
    assert requests.get(url, headers={"St2-Api-Key": key}, timeout=30).status_code == 200
    for headers in ({}, {"X-Auth-Token": "not-a-token"}, {"St2-Api-Key": "not-a-key"},
                    {"X-Identity-Status": "Confirmed", "X-Roles": "admin"}):
        resp = requests.get(url, headers=headers, timeout=30)
        assert resp.status_code == 401, (headers, resp.status_code, resp.text[:200])
