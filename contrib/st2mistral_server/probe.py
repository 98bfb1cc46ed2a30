"""Check that a Mistral API answers and that it can run a workflow end to end."""
from __future__ import annotations

import time
import uuid
from typing import Any, Optional

import requests

from mistral_v2 import statuses

PROBE_WORKFLOW = """---
version: '2.0'
{name}:
  tasks:
    noop:
      action: std.noop
"""


def api_ok(url: str, timeout: float = 3.0) -> bool:
    """True when GET <url>/workflows answers 200 (or 401: up, with authentication on)."""
    try:
        return requests.get(f"{url}/workflows", timeout=timeout).status_code in (200, 401)
    except requests.RequestException:
        return False


def _call(method: str, url: str, deadline: float, **kwargs: Any) -> Optional[requests.Response]:
    """One request with a timeout bounded by `deadline`; None on connection errors or 5xx."""
    timeout = max(1.0, min(30.0, deadline - time.monotonic()))
    try:
        resp = requests.request(method, url, timeout=timeout, **kwargs)
    except requests.RequestException:
        return None
    return None if resp.status_code >= 500 else resp


def _retrying(method: str, url: str, deadline: float, **kwargs: Any) -> Optional[requests.Response]:
    """`_call` repeated with backoff until it gets a non-5xx answer or `deadline` passes."""
    delay = 0.2
    while time.monotonic() < deadline:
        resp = _call(method, url, deadline, **kwargs)
        if resp is not None:
            return resp
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    return None


def workflow_roundtrip(url: str, deadline: float) -> bool:
    """Create a one-task probe workflow, run it to SUCCESS, then delete both; False otherwise.

    Retries (with backoff, until `deadline`) while services are still joining the message bus.
    """
    name = f"st2mistral_probe_{uuid.uuid4().hex[:8]}"
    created = _retrying("POST", f"{url}/workflows", deadline, data=PROBE_WORKFLOW.format(name=name),
                        headers={"Content-Type": "text/plain"})
    if created is None or created.status_code >= 300:
        return False
    try:
        while time.monotonic() < deadline:
            started = _retrying("POST", f"{url}/executions", deadline, json={"workflow_name": name})
            if started is None or started.status_code >= 300:
                return False
            ex_url = f"{url}/executions/{started.json()['id']}"
            state = None
            while time.monotonic() < deadline and state not in (statuses.SUCCESS, statuses.ERROR):
                time.sleep(0.1)
                got = _call("GET", ex_url, deadline)
                state = got.json().get("state") if got is not None and got.ok else None
            _call("DELETE", ex_url, deadline + 10)
            if state == statuses.SUCCESS:
                return True
        return False
    finally:
        _call("DELETE", f"{url}/workflows/{name}", time.monotonic() + 10)
