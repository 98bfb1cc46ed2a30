"""End-to-end throughput of the host: N bench.flow workflows (st2.action core.noop, then std.echo)
started concurrently through the host's REST API; workflows completed per second (first POST to
the last end_timestamp) and the host process's peak RSS.
Usage: python bench/throughput.py [-n 200] [--polling]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List

import common

REF = "bench.flow"


def _all_final(host: common.Host, ids: set) -> List[Dict]:
    resp = host.session.get(host.base_url + "/api/v1/executions",
                            params={"action": REF, "limit": 10000, "exclude_attributes": "result,log"},
                            timeout=60)
    resp.raise_for_status()
    return [d for d in resp.json() if d["id"] in ids and d["status"] in common.FINAL]


def run(mistral: common.Mistral, n: int = 200, polling: bool = False, timeout: float = 300) -> List[Dict]:
    """One row: completed workflows per second and host RSS (idle and peak)."""
    with tempfile.TemporaryDirectory() as tmp:
        pack = common.write_pack(Path(tmp) / "bench")
        host = common.Host(mistral.url, pack, polling=polling, query_interval=1.0 if polling else 30.0)
        peak = {"rss": 0}
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak["rss"] = max(peak["rss"], host.rss_bytes())
                stop.wait(0.2)

        try:
            host.wait(host.run(REF))  # warm-up
            idle_rss = host.rss_bytes()
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            cpu0, mcpu0, t0 = host.cpu_seconds(), mistral.cpu_seconds(), time.time()
            with ThreadPoolExecutor(16) as pool:
                ids = set(pool.map(lambda _: host.run(REF), range(n)))
            posted = time.time() - t0
            deadline = time.monotonic() + timeout
            while True:
                done = _all_final(host, ids)
                if len(done) == len(ids) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            host_cpu = host.cpu_seconds() - cpu0
            mistral_cpu = mistral.cpu_seconds() - mcpu0
            stop.set()
            sampler.join()
        finally:
            stop.set()
            host.stop()
    if len(done) != n or any(d["status"] != "succeeded" for d in done):
        raise RuntimeError("%d of %d finished; statuses %s" % (
            len(done), n, sorted({d["status"] for d in done})))
    elapsed = max(common.parse_st2_time(d["end_timestamp"]) for d in done) - t0
    rate = n / elapsed
    return [{"bench": "throughput, %d concurrent (%s, %s)" % (n, "polling" if polling else "push", mistral.mode),
             "value": "%.1f workflows/s (%.1f s; POSTs %.1f s); host RSS %.0f MiB idle, %.0f MiB peak; "
                      "CPU host %.1f s, Mistral %.1f s" % (rate, elapsed, posted, idle_rss / 2**20, peak["rss"] / 2**20,
                                                    host_cpu, mistral_cpu),
             "goal": "measured", "met": None,
             "raw": {"rate": rate, "elapsed": elapsed, "idle_rss": idle_rss, "peak_rss": peak["rss"],
                     "host_cpu": host_cpu, "mistral_cpu": mistral_cpu}}]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--polling", action="store_true")
    parser.add_argument("--mode", default="embedded", choices=("embedded", "distributed"))
    args = parser.parse_args()
    mistral = common.Mistral(args.mode)
    try:
        for row in run(mistral, args.n, args.polling):
            print("%-40s %s" % (row["bench"], row["value"]))
    finally:
        mistral.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
