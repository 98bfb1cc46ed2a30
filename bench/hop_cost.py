"""Hop cost: 20 sequential st2.action tasks (core.noop through the host and the callback) vs 20
std.noop tasks, run through the host with push; Mistral-side duration (IDLE->RUNNING to SUCCESS
in the engine's workflow_trace log) per workflow, added cost per hop = median difference / 20.
Usage: python bench/hop_cost.py [-n 5]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

import common


def _durations(mistral: common.Mistral, docs: List[Dict]) -> List[float]:
    times = common.trace_times(mistral.engine_logs)
    out = []
    for doc in docs:
        ex_id = doc["context"]["mistral"]["execution_id"]
        states = times.get(ex_id, {})
        if doc["status"] != "succeeded":
            raise RuntimeError("execution %s: %s" % (doc["id"], doc["status"]))
        if "RUNNING" not in states or "SUCCESS" not in states:
            raise RuntimeError("%s (found %s)" % (common.no_trace(ex_id, mistral.engine_logs), sorted(states)))
        out.append(states["SUCCESS"] - states["RUNNING"])
    return out


def run(mistral: common.Mistral, n: int = 5) -> List[Dict]:
    """One row: per-hop added cost (median), with both workflows' medians."""
    with tempfile.TemporaryDirectory() as tmp:
        pack = common.write_pack(Path(tmp) / "bench")
        host = common.Host(mistral.url, pack, polling=False, query_interval=30.0)
        try:
            for ref in ("bench.hops_st2", "bench.hops_noop"):  # warm-up
                host.wait(host.run(ref))
            st2_docs, noop_docs = [], []
            for _ in range(n):  # interleaved so both see the same server state
                st2_docs.append(host.wait(host.run("bench.hops_st2")))
                noop_docs.append(host.wait(host.run("bench.hops_noop")))
        finally:
            host.stop()
    st2 = _durations(mistral, st2_docs)
    noop = _durations(mistral, noop_docs)
    per_hop = (common.median(st2) - common.median(noop)) / common.HOPS
    return [{"bench": "hop cost (%d tasks, %s)" % (common.HOPS, mistral.mode),
             "value": "+%.3f s per hop (st2.action %.2f s vs std.noop %.2f s per workflow, n=%d)"
             % (per_hop, common.median(st2), common.median(noop), n),
             "goal": "< 0.1 s per hop", "met": per_hop < 0.1,
             "raw": {"per_hop": per_hop, "st2": st2, "noop": noop}}]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=5)
    parser.add_argument("--mode", default="embedded", choices=("embedded", "distributed"))
    args = parser.parse_args()
    mistral = common.Mistral(args.mode)
    try:
        for row in run(mistral, args.n):
            print("%-30s %s (goal %s)" % (row["bench"], row["value"], row["goal"]))
    finally:
        mistral.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
