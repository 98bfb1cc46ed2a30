"""Callback hop on real StackStorm 3.9 with st2mistral-sync: a child action finished in StackStorm ->
its Mistral task SUCCESS. Needs StackStorm's source (../shared/stackstorm, as the st2 test tier).

Each sample: start sync_tests.children (its first task a core.local child sleeping 1 s), find the
child, poll its Mistral task every 5 ms; hop = first time the task is seen SUCCESS - the child's
end_timestamp in StackStorm. Usage: python bench/callback_hop.py [-n 20] [--mode distributed]

Breakdown of each hop from the logs (ms timestamps, one machine, one clock): the service's
"callback of execution <child> applied ... in A s (Mistral's answer P s)" line (written when
Mistral answered the PUT; A counts from the bus message's arrival, P the PUT alone) and the
engine's workflow_trace line "Task '<name>' (<task id>) [RUNNING -> SUCCESS" (written inside the
PUT's transaction, before its commit): bus = arrival - end_timestamp, before PUT = A - P,
Mistral = P (task SUCCESS written at +trace), seen = bench's poll - answer.
"""
from __future__ import annotations

import datetime
import re
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


_LOGTIME = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.,]\d{3}) "
_APPLIED = re.compile(_LOGTIME + r".*callback of execution (\w+) applied .* in ([\d.]+) s "
                      r"\(Mistral's answer ([\d.]+) s\)")
_TASK_DONE = re.compile(_LOGTIME + r".*Task '[^']*' \(([0-9a-f-]{36})\) \[RUNNING -> SUCCESS")


def _log_time(stamp: str) -> float:
    return datetime.datetime.strptime(stamp.replace(",", "."), "%Y-%m-%d %H:%M:%S.%f").timestamp()


def _lines(paths: List[Path], pattern: "re.Pattern[str]") -> Dict[str, Any]:
    found: Dict[str, Any] = {}
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            m = pattern.match(line)
            if m:
                found.setdefault(m.group(2), (_log_time(m.group(1)),) + m.groups()[2:])
    return found


def breakdown(samples: List[Dict[str, Any]], service_logs: List[Path],
              mistral_logs: List[Path]) -> Dict[str, List[float]]:
    """Per phase, the seconds of each sample whose log lines were found (see the docstring)."""
    applied = _lines(service_logs, _APPLIED)
    done = _lines(mistral_logs, _TASK_DONE)
    out: Dict[str, List[float]] = {k: [] for k in ("bus", "before PUT", "Mistral PUT", "task SUCCESS in PUT",
                                                   "seen after answer")}
    for s in samples:
        if s["child"] not in applied:
            continue
        answered, total, put = applied[s["child"]][0], float(applied[s["child"]][1]), float(applied[s["child"]][2])
        arrived = answered - total
        out["bus"].append(arrived - s["end"])
        out["before PUT"].append(total - put)
        out["Mistral PUT"].append(put)
        if s["task"] in done:
            out["task SUCCESS in PUT"].append(done[s["task"]][0] - (answered - put))
        out["seen after answer"].append(s["seen"] - answered)
    return out


def one_hop(stack: Any, mistral_url: str) -> Dict[str, Any]:
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
    end = _st2_time(done["end_timestamp"])
    return {"hop": seen - end, "end": end, "seen": seen, "child": child["id"], "task": task_id}


def run(mistral: common.Mistral, n: int = 20) -> List[Dict[str, Any]]:
    from stacks.real_st2 import St2Stack
    from stacks.sync_service import SyncService, new_group

    with tempfile.TemporaryDirectory(prefix="bench-hop-") as tmp:
        stack = St2Stack.start(mistral.url, Path(tmp))
        service = None
        try:
            service = SyncService(stack, "bench", new_group()).start()
            one_hop(stack, mistral.url)  # warm-up
            samples = [one_hop(stack, mistral.url) for _ in range(n)]
            phases = breakdown(samples, [service.log], mistral.engine_logs)
        finally:
            if service is not None:
                service.stop()
            stack.stop()
    hops = [s["hop"] for s in samples]
    p95 = common.p95(hops)
    split = "; ".join("%s %.3f/%.3f" % (k, common.median(v), common.p95(v)) for k, v in phases.items() if v)
    where = "" if mistral.mode == "embedded" else ", %s Mistral" % mistral.mode
    return [{"bench": "callback hop on real StackStorm 3.9 (st2mistral-sync, bus%s)" % where,
             "value": "median %.3f s, p95 %.3f s, max %.3f s (n=%d)" % (common.median(hops), p95, max(hops), n),
             "goal": "p95 < 0.2 s", "met": p95 < 0.2, "raw": {"hops": hops, "phases": phases}},
            {"bench": "callback hop, split (median/p95 s, from the logs%s)" % where,
             "value": split or "no log lines found",
             "goal": "-", "met": None, "raw": {}}]


def main() -> int:
    return common.main_n(__doc__, run, 20)


if __name__ == "__main__":
    sys.exit(main())
