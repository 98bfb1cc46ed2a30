"""Callback hop on real StackStorm 3.9 with st2mistral-sync: a child action finished in StackStorm ->
its Mistral task SUCCESS. Needs StackStorm's source (../shared/stackstorm, as the st2 test tier).

Each sample: start sync_tests.children (its first task a core.local child sleeping 1 s), find the
child, poll its Mistral task every 5 ms; hop = first time the task is seen SUCCESS - the child's
end_timestamp in StackStorm. Usage: python bench/callback_hop.py [-n 20]
"""
from __future__ import annotations

import datetime
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import common
import requests

sys.path.insert(0, str(common.ROOT / "tests"))


def _st2_time(value: str) -> float:
    """Epoch seconds of a StackStorm 3.9 timestamp (2026-12-01T16:13:45.123456+00:00 or ...Z)."""
    value = value.replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(value).timestamp()


def _child(stack: Any, ex_id: str, timeout: float = 60) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = requests.get("%s/executions" % stack.api_url, headers=stack.headers(), timeout=10,
                            params={"parent": ex_id}).json()
        if kids:
            return kids[0]
        time.sleep(0.02)
    raise RuntimeError("no child of %s" % ex_id)


def one_hop(stack: Any, mistral_url: str) -> float:
    resp = requests.post("%s/executions" % stack.api_url, headers=stack.headers(), timeout=30,
                         json={"action": "sync_tests.children", "parameters": {"word": "hop", "seconds": 1}})
    resp.raise_for_status()
    ex_id = resp.json()["id"]
    child = _child(stack, ex_id)
    task_id = child["context"]["mistral"]["task_execution_id"]
    session = requests.Session()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = session.get("%s/tasks/%s" % (mistral_url, task_id), timeout=10).json()["state"]
        if state == "SUCCESS":
            seen = time.time()
            break
        if state not in ("RUNNING", "IDLE", "WAITING"):
            raise RuntimeError("task %s is %s" % (task_id, state))
        time.sleep(0.005)
    else:
        raise RuntimeError("task %s never SUCCESS" % task_id)
    done = stack.wait_for_status(child["id"], common.FINAL, timeout=30)
    stack.wait_for_status(ex_id, common.FINAL, timeout=60)
    return seen - _st2_time(done["end_timestamp"])


def run(mistral: common.Mistral, n: int = 20) -> List[Dict[str, Any]]:
    from stacks.real_st2 import St2Stack
    from stacks.sync_service import SyncService, new_group

    with tempfile.TemporaryDirectory(prefix="bench-hop-") as tmp:
        stack = St2Stack.start(mistral.url, Path(tmp))
        service = None
        try:
            service = SyncService(stack, "bench", new_group()).start()
            one_hop(stack, mistral.url)  # warm-up
            hops = [one_hop(stack, mistral.url) for _ in range(n)]
        finally:
            if service is not None:
                service.stop()
            stack.stop()
    p95 = common.p95(hops)
    return [{"bench": "callback hop on real StackStorm 3.9 (st2mistral-sync, bus)",
             "value": "median %.3f s, p95 %.3f s, max %.3f s (n=%d)" % (common.median(hops), p95, max(hops), n),
             "goal": "p95 < 0.2 s", "met": p95 < 0.2, "raw": {"hops": hops}}]


def main() -> int:
    return common.main_n(__doc__, run, 20)


if __name__ == "__main__":
    sys.exit(main())
