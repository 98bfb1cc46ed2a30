"""Callback hop on real StackStorm 3.9 with st2mistral-sync: a child action finished in StackStorm ->
its Mistral task SUCCESS. Needs StackStorm's source (../shared/stackstorm, as the st2 test tier).

Each sample: start sync_tests.children (its first task a core.local child sleeping 1 s), find the
child and its Mistral task, then leave Mistral alone until the workflow is done. The hop is
measured without loading Mistral's API: hop = the moment the task's SUCCESS is committed in
Mistral's database - the child's end_timestamp in StackStorm. Distributed Mistral: a separate
process polls PostgreSQL every 1 ms for the task's state (a read there never blocks Mistral).
Embedded Mistral (SQLite, where a reader would block Mistral's writes): the moment Mistral answered
the service's PUT, from the service's log (the task is committed before Mistral answers: an upper
bound). `--rest-poll` adds the old observer for comparison: GET /tasks/<id> every 5 ms through
Mistral's API (each GET costs the API ~15 ms of CPU, taken from the PUT it measures).
Usage: python bench/callback_hop.py [-n 30] [--mode distributed] [--rest-poll]

Breakdown of each hop from the logs (ms timestamps, one machine, one clock): the service's
"callback of execution <child> applied ... in A s (Mistral's answer P s)" line (written when
Mistral answered the PUT; A counts from the bus message's arrival, P the PUT alone) and the
engine's workflow_trace line "Task '<name>' (<task id>) [RUNNING -> SUCCESS" (written inside the
PUT's transaction, before its commit): bus = arrival - end_timestamp, before PUT = A - P,
Mistral = P (task SUCCESS written at +trace), committed = commit seen - Mistral's answer.
"""
from __future__ import annotations

import datetime
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

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


_APPLIED = re.compile(common.LOG_TIME + r".*callback of execution (\w+) applied .* in ([\d.]+) s "
                      r"\(Mistral's answer ([\d.]+) s\)")
_TASK_DONE = re.compile(common.LOG_TIME + r".*Task '[^']*' \(([0-9a-f-]{36})\) \[RUNNING -> SUCCESS")


def _first_lines(paths: List[Path], pattern: "re.Pattern[str]") -> Dict[str, Any]:
    """{group 2: (epoch seconds, groups 3...)} of the first line matching `pattern` per group 2."""
    found: Dict[str, Any] = {}
    for when, m in common.log_matches(paths, pattern):
        found.setdefault(m.group(2), (when,) + m.groups()[2:])
    return found


def breakdown(samples: List[Dict[str, Any]], applied: Dict[str, Any],
              mistral_logs: List[Path]) -> Dict[str, List[float]]:
    """Per phase, the seconds of each sample whose log lines were found (see the docstring);
    `applied`: the service's lines, _first_lines(service log, _APPLIED)."""
    done = _first_lines(mistral_logs, _TASK_DONE)
    out: Dict[str, List[float]] = {k: [] for k in ("bus", "before PUT", "Mistral PUT", "task SUCCESS in PUT",
                                                   "committed after answer")}
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
        if s["committed"] is not None:
            out["committed after answer"].append(s["committed"] - answered)
    return out


# Runs in Mistral's venv (psycopg2): reads task ids on stdin, prints "<id> <epoch of SUCCESS seen>".
_COMMIT_WATCH = """
import sys, time, psycopg2
conn = psycopg2.connect(host=sys.argv[1], port=int(sys.argv[2]), user=sys.argv[3], dbname=sys.argv[4])
conn.autocommit = True
cur = conn.cursor()
for line in sys.stdin:
    task_id, deadline = line.strip(), time.monotonic() + 60
    state = None
    while time.monotonic() < deadline:
        cur.execute("SELECT state FROM task_executions_v2 WHERE id = %s", (task_id,))
        row = cur.fetchone()
        state = row[0] if row else None
        if state not in (None, "RUNNING", "IDLE", "WAITING"):
            break
        time.sleep(0.001)
    print(task_id, "%.6f" % time.time() if state == "SUCCESS" else "none:%s" % state, flush=True)
"""


class CommitWatcher:
    """Sees a task's SUCCESS commit in distributed Mistral's PostgreSQL (a process of its own)."""

    def __init__(self, mistral: common.Mistral) -> None:
        from st2mistral_server import infra

        self.proc = subprocess.Popen(
            [str(Path(mistral.info.venv) / "bin" / "python"), "-c", _COMMIT_WATCH, infra.PG_HOST,
             str(infra.PG_PORT), infra.PG_USER, mistral.info.database],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def watch(self, task_id: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(task_id + "\n")
        self.proc.stdin.flush()

    def seen(self) -> Optional[float]:
        assert self.proc.stdout is not None
        _, when = self.proc.stdout.readline().split()
        return None if when.startswith("none:") else float(when)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _rest_seen(mistral_url: str, task_id: str) -> float:
    """The old observer: first time GET /tasks/<id> through Mistral's API says SUCCESS."""
    session = requests.Session()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = session.get("%s/tasks/%s" % (mistral_url, task_id), timeout=10).json()["state"]
        if state == "SUCCESS":
            return time.time()
        if state not in ("RUNNING", "IDLE", "WAITING"):
            raise RuntimeError("task %s is %s" % (task_id, state))
        time.sleep(0.005)
    raise RuntimeError("task %s never SUCCESS" % task_id)


def one_hop(stack: Any, mistral_url: str, watcher: Optional[CommitWatcher], rest_poll: bool) -> Dict[str, Any]:
    resp = requests.post("%s/executions" % stack.api_url, headers=stack.headers(), timeout=30,
                         json={"action": "sync_tests.children", "parameters": {"word": "hop", "seconds": 1}})
    resp.raise_for_status()
    ex_id = resp.json()["id"]
    child = _child(stack, ex_id)
    task_id = child["context"]["mistral"]["task_execution_id"]
    if watcher is not None:
        watcher.watch(task_id)
    rest = _rest_seen(mistral_url, task_id) if rest_poll else None
    if not rest_poll:
        time.sleep(1.5)  # the child sleeps 1 s: StackStorm is asked only after the hop, as a rule
    done = stack.wait_for_status(child["id"], common.FINAL, timeout=30)
    stack.wait_for_status(ex_id, common.FINAL, timeout=60)
    committed = watcher.seen() if watcher is not None else None
    if watcher is not None and committed is None:
        raise RuntimeError("task %s of %s never SUCCESS in Mistral's database" % (task_id, ex_id))
    return {"end": _st2_time(done["end_timestamp"]), "committed": committed, "rest": rest,
            "child": child["id"], "task": task_id}


def run(mistral: common.Mistral, n: int = 20, rest_poll: bool = False) -> List[Dict[str, Any]]:
    from stacks.real_st2 import St2Stack
    from stacks.sync_service import SyncService, new_group

    with tempfile.TemporaryDirectory(prefix="bench-hop-") as tmp:
        stack = St2Stack.start(mistral.url, Path(tmp))
        service = None
        watcher = CommitWatcher(mistral) if mistral.info is not None and mistral.info.database else None
        try:
            service = SyncService(stack, "bench", new_group()).start()
            one_hop(stack, mistral.url, watcher, rest_poll)  # warm-up
            samples = [one_hop(stack, mistral.url, watcher, rest_poll) for _ in range(n)]
            applied = _first_lines([service.log], _APPLIED)  # when Mistral answered each PUT
            answered = {child: line[0] for child, line in applied.items()}
            phases = breakdown(samples, applied, mistral.engine_logs)
        finally:
            if watcher is not None:
                watcher.stop()
            if service is not None:
                service.stop()
            stack.stop()
    where = "" if mistral.mode == "embedded" else ", %s Mistral" % mistral.mode
    rows: List[Dict[str, Any]] = []

    def row(what: str, hops: List[float], goal: str = "p95 < 0.2 s") -> None:
        p95 = common.p95(hops)
        rows.append({"bench": "callback hop on real StackStorm 3.9 (st2mistral-sync, bus%s): %s" % (where, what),
                     "value": "median %.3f s, p95 %.3f s, max %.3f s (n=%d)"
                              % (common.median(hops), p95, max(hops), len(hops)) if hops else "no samples",
                     "goal": goal, "met": (p95 < 0.2) if goal != "-" and hops else None, "raw": {"hops": hops}})

    if watcher is not None:
        row("to SUCCESS committed (PostgreSQL)", [s["committed"] - s["end"] for s in samples])
    row("to Mistral's answer (log)", [answered[s["child"]] - s["end"] for s in samples if s["child"] in answered],
        "p95 < 0.2 s" if watcher is None else "-")
    if rest_poll:
        row("seen by a 5 ms REST poller", [s["rest"] - s["end"] for s in samples], "-")
    split = "; ".join("%s %.3f/%.3f" % (k, common.median(v), common.p95(v)) for k, v in phases.items() if v)
    rows.append({"bench": "callback hop, split (median/p95 s, from the logs%s)" % where,
                 "value": split or "no log lines found", "goal": "-", "met": None, "raw": {"phases": phases}})
    return rows


def main() -> int:
    return common.main_n(__doc__, run, 30, flags={"--rest-poll": "also time the old observer (see above)"})


if __name__ == "__main__":
    sys.exit(main())
