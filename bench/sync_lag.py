"""Sync lag: Mistral engine finishing a workflow -> the host's execution showing the final status.

The Mistral moment is the engine's `workflow_trace` log line "Workflow ... [RUNNING -> SUCCESS]"
(ms precision); the host moment is the execution's end_timestamp (set when it stores the final
status). Measured with push (the plugin's `st2` notifier) and with polling only (reconciler).
Usage: python bench/sync_lag.py [-n 20] [--interval 1.0] [--mode embedded|distributed]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import common


def measure(mistral: common.Mistral, pack: Path, polling: bool, n: int, interval: float) -> Dict[str, float]:
    """Run `n` bench.quick workflows one after another; lag statistics in seconds."""
    host = common.Host(mistral.url, pack, polling=polling, query_interval=interval)
    try:
        host.wait(host.run("bench.quick"))  # warm-up: definition upload, connections
        done: List[Dict] = []
        for _ in range(n):
            done.append(host.wait(host.run("bench.quick")))
            time.sleep(random.uniform(0, 0.2))  # de-phase from the reconciler's cycle
    finally:
        host.stop()
    time.sleep(0.5)
    finished = common.terminal_times(mistral.engine_logs)
    lags = []
    for doc in done:
        ex_id = doc["context"]["mistral"]["execution_id"]
        if doc["status"] != "succeeded":
            raise RuntimeError("execution %s: %s" % (doc["id"], doc["status"]))
        if ex_id not in finished:
            raise RuntimeError(common.no_trace(ex_id, mistral.engine_logs))
        lags.append(common.parse_st2_time(doc["end_timestamp"]) - finished[ex_id])
    return {"n": len(lags), "median": common.median(lags), "p95": common.p95(lags), "max": max(lags)}


def run(mistral: common.Mistral, n: int = 20, interval: float = 1.0) -> List[Dict]:
    """Rows for the table: push, then polling only with `interval`."""
    with tempfile.TemporaryDirectory() as tmp:
        pack = common.write_pack(Path(tmp) / "bench")
        push = measure(mistral, pack, polling=False, n=n, interval=30.0)  # push only (poll rarely)
        poll = measure(mistral, pack, polling=True, n=n, interval=interval)
    return [
        {"bench": "sync lag, push (%s)" % mistral.mode, "value": "median %.3f s, p95 %.3f s (n=%d)"
         % (push["median"], push["p95"], push["n"]), "goal": "p95 < 0.5 s",
         "met": push["p95"] < 0.5, "raw": push},
        {"bench": "sync lag, polling every %.1f s (%s)" % (interval, mistral.mode),
         "value": "median %.3f s, p95 %.3f s (n=%d)" % (poll["median"], poll["p95"], poll["n"]),
         "goal": "p95 <= %.1f s" % interval, "met": poll["p95"] <= interval, "raw": poll},
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--mode", default="embedded", choices=("embedded", "distributed"))
    args = parser.parse_args()
    mistral = common.Mistral(args.mode)
    try:
        for row in run(mistral, args.n, args.interval):
            print("%-40s %-40s goal %s" % (row["bench"], row["value"], row["goal"]))
    finally:
        mistral.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
