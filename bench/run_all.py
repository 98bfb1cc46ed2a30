"""Every st2-mistral benchmark in one run against one real embedded Mistral; prints one table.

Usage: .venv/bin/python bench/run_all.py [--quick] [--no-distributed] [--json FILE]
(or `bash bench/run`). Sync lag, start overhead and the callback hop are also measured on
distributed Mistral (RabbitMQ + PostgreSQL, the notifier in its own process) when those are
reachable. --quick: small sizes (smoke run).
Runs in 8-14 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List

import callback_hop
import common
import hop_cost
import query_cost
import sync_lag
import sync_split
import throughput


def _start_overhead(mistral: common.Mistral, n: int) -> List[Dict[str, Any]]:
    import start_overhead

    with tempfile.TemporaryDirectory() as tmp:
        medians = start_overhead.run(mistral.url, n, tmp)
    ratio = medians["runner"] / medians["direct"]
    same = medians["runner"] / medians["same_request"]
    return [{"bench": "start overhead (%s)" % mistral.mode,
             "value": "runner %.1f ms vs mistralclient %.1f ms: ratio %.2f; vs the same request (env + "
                      "idempotency id) sent directly %.1f ms: ratio %.2f (n=%d, interleaved)"
             % (medians["runner"] * 1000, medians["direct"] * 1000, ratio, medians["same_request"] * 1000,
                same, n),
             "goal": "ratio <= 1.1", "met": ratio <= 1.1, "raw": dict(medians, ratio=ratio, same_ratio=same)}]


def _timed(name: str, fn: Callable[[], List[Dict[str, Any]]], rows: List[Dict[str, Any]]) -> None:
    t0 = time.monotonic()
    print("bench: %s ..." % name, flush=True)
    try:
        got = fn()
    except Exception as exc:  # one broken bench must not hide the others' numbers
        got = [{"bench": name, "value": "FAILED: %s: %s" % (type(exc).__name__, exc), "goal": "",
                "met": False, "raw": {}}]
    for row in got:
        row["seconds"] = round(time.monotonic() - t0, 1)
        print("  %s: %s" % (row["bench"], row["value"]), flush=True)
    rows.extend(got)


def table(rows: List[Dict[str, Any]]) -> str:
    """Markdown table of the rows."""
    out = ["| benchmark | result | goal | met |", "|---|---|---|---|"]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "-"}[r["met"]]
        out.append("| %s | %s | %s | %s |" % (r["bench"], r["value"], r["goal"], met))
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--no-distributed", action="store_true", help="skip distributed Mistral")
    parser.add_argument("--json", help="also write the rows (with raw numbers) to this file")
    args = parser.parse_args()
    sizes = [10, 100] if args.quick else [10, 100, 1000]
    began = time.monotonic()
    load_before = os.getloadavg()
    rows: List[Dict[str, Any]] = []
    mistral = common.Mistral("embedded")
    try:
        _timed("start overhead", lambda: _start_overhead(mistral, 5 if args.quick else 30), rows)
        _timed("sync lag", lambda: sync_lag.run(mistral, n=5 if args.quick else 20), rows)
        _timed("hop cost", lambda: hop_cost.run(mistral, n=1 if args.quick else 3), rows)
        _timed("throughput", lambda: throughput.run(mistral, n=20 if args.quick else 200), rows)
        _timed("callback hop (real StackStorm)", lambda: callback_hop.run(mistral, n=5 if args.quick else 30), rows)
        _timed("query cost", lambda: query_cost.run(mistral, sizes), rows)  # leaves executions parked
        _timed("sync split", lambda: sync_split.run(mistral, n=100 if args.quick else 1000), rows)
    finally:
        mistral.stop()
    if not args.no_distributed:
        from st2mistral_server.infra import distributed_unavailable_reason

        reason = distributed_unavailable_reason()
        if reason:
            print("bench: distributed skipped: %s" % reason)
        else:
            dist = common.Mistral("distributed")
            try:
                _timed("sync lag (distributed)", lambda: sync_lag.run(dist, n=5 if args.quick else 15), rows)
                _timed("start overhead (distributed)", lambda: _start_overhead(dist, 5 if args.quick else 30), rows)
                _timed("callback hop (real StackStorm, distributed Mistral)",
                       lambda: callback_hop.run(dist, n=5 if args.quick else 30), rows)
            finally:
                dist.stop()
    print()
    print("st2-mistral benchmarks, %s, Python %s, %d s; load average (1/5/15 min) %s at the start, %s at the end"
          % (platform.platform(terse=True), platform.python_version(), time.monotonic() - began,
             "/".join("%.1f" % x for x in load_before), "/".join("%.1f" % x for x in os.getloadavg())))
    print(table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2, default=str)
    return 0 if all(r["met"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
