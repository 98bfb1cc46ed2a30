"""Check that a Mistral API answers and that it can run a workflow end to end."""
from __future__ import annotations

import time
import uuid

import requests

PROBE_WORKFLOW = """---
version: '2.0'
{name}:
  tasks:
    noop:
      action: std.noop
"""


def api_ok(url: str, timeout: float = 3.0) -> bool:
    """True when GET <url>/workflows answers 200."""
    try:
        return requests.get(f"{url}/workflows", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def workflow_roundtrip(url: str, deadline: float) -> bool:
    """Create a one-task probe workflow, run it to SUCCESS, then delete both; False on timeout.

    Retries the start while services are still connecting to the message bus.
    """
    name = f"st2mistral_probe_{uuid.uuid4().hex[:8]}"
    resp = requests.post(f"{url}/workflows", data=PROBE_WORKFLOW.format(name=name),
                         headers={"Content-Type": "text/plain"}, timeout=30)
    resp.raise_for_status()
    try:
        while time.monotonic() < deadline:
            try:
                resp = requests.post(f"{url}/executions", json={"workflow_name": name},
                                     timeout=max(1.0, min(30.0, deadline - time.monotonic())))
            except requests.RequestException:
                time.sleep(0.5)
                continue
            if resp.status_code >= 300:
                time.sleep(0.5)
                continue
            ex_id = resp.json()["id"]
            while time.monotonic() < deadline:
                state = requests.get(f"{url}/executions/{ex_id}", timeout=10).json().get("state")
                if state in ("SUCCESS", "ERROR"):
                    requests.delete(f"{url}/executions/{ex_id}", timeout=10)
                    if state == "SUCCESS":
                        return True
                    break
                time.sleep(0.1)
        return False
    finally:
        requests.delete(f"{url}/workflows/{name}", timeout=10)
