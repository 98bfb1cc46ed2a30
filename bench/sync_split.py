"""st2mistral-sync's reconcile cycle over N running executions: one instance vs two splitting them.

N parked Mistral executions (bench/query_cost.park) stand for N running mistral-v2 executions;
each instance runs the service's SyncEngine.reconcile_once over an in-memory StackStorm (the st2
API side is not measured) with its own counted MistralAPI. Two instances split the ids with
tooz's consistent hash ring (as the service's ToozPartition) when tooz is installed, else by a
crc32 hash. Per cycle: Mistral calls, CPU seconds of the instance, wall time.
Usage: python bench/sync_split.py [-n 1000]
"""
from __future__ import annotations

import contextlib
import sys
import time
import zlib
from typing import Any, Dict, Iterator, List, Tuple

import common
import query_cost

PARK = "bench.park_sync"


class _Ring:
    """The partition of member `me` among `members` (hash ring, as ToozPartition)."""

    def __init__(self, me: str, members: List[str]) -> None:
        self.me = me
        self.members = sorted(members)
        try:
            from tooz import hashring

            self.ring: Any = hashring.HashRing(self.members)
        except ImportError:
            self.ring = None

    def refresh(self) -> None:
        return None

    def owns(self, key: str) -> bool:
        if self.ring is not None:
            return self.me in self.ring.get_nodes(key.encode())
        return self.members[zlib.crc32(key.encode()) % len(self.members)] == self.me

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[bool]:
        yield True


class _Memory:
    """engine.Executions over a list of running executions (nothing written back)."""

    def __init__(self, items: List[Tuple[str, Dict[str, Any]]]) -> None:
        self.docs = [{"id": st2_id, "status": "running", "context": {"mistral": ctx}} for st2_id, ctx in items]
        self.changed = 0

    def unfinished_workflows(self) -> List[Dict[str, Any]]:
        return self.docs

    def get(self, execution_id: str) -> Dict[str, Any]:
        return {}

    def record(self, doc: Dict[str, Any], status: str, result: Dict[str, Any]) -> bool:
        self.changed += int(status != doc["status"])
        return False

    def due_callbacks(self, docs: Any, answers: Any) -> List[Dict[str, Any]]:
        return []

    def claim_callback(self, doc: Dict[str, Any]) -> bool:
        return True

    def callback_done(self, doc: Dict[str, Any], outcome: str) -> None:
        return None


def _cycle(items: List[Tuple[str, Dict[str, Any]]], me: str, members: List[str]) -> Dict[str, float]:
    from mistral_v2.query import MistralResultsQuerier
    from st2mistral_sync.engine import SyncEngine

    api, adapter = query_cost._api()
    querier = MistralResultsQuerier(api=api)
    memory = _Memory(items)
    engine = SyncEngine(memory, _Ring(me, members), querier_factory=lambda: querier)
    engine.query([("warm", {})])  # client and connections
    calls0, cpu0, t0 = adapter.count, time.process_time(), time.perf_counter()
    counts = engine.reconcile_once()
    out = {"calls": adapter.count - calls0, "cpu": time.process_time() - cpu0,
           "wall": time.perf_counter() - t0, "queried": counts["queried"]}
    if memory.changed:
        raise RuntimeError("parked executions are not all running (%d changed)" % memory.changed)
    return out


def run(mistral: common.Mistral, n: int = 1000) -> List[Dict[str, Any]]:
    from oslo_config import cfg

    from mistral_v2 import config

    config.register_opts(cfg.CONF)
    cfg.CONF.set_override("v2_base_url", mistral.url, "mistral")
    client = mistral.client()
    # its own workflow name: executions parked by query_cost in the same Mistral stay out of its listings
    client.workflows.create(query_cost.DEFINITION.replace(query_cost.PARK, PARK))
    items = query_cost.park(client, n, PARK)
    one = _cycle(items, "a", ["a"])
    halves = [_cycle(items, m, ["a", "b"]) for m in ("a", "b")]
    if sum(h["queried"] for h in halves) != one["queried"]:
        raise RuntimeError("the two instances did not split the executions exactly")
    share = [h["queried"] / max(1, one["queried"]) for h in halves]
    cpu_share = [h["cpu"] / max(1e-9, one["cpu"]) for h in halves]
    return [{"bench": "sync reconcile cycle, %d running: 1 instance vs 2 (st2mistral-sync engine)" % n,
             "value": "1: calls %d, CPU %.2f s, wall %.2f s | 2: %s executions, calls %s, CPU %s s "
                      "(%.0f%% / %.0f%% of 1's), wall %s s" % (
                          one["calls"], one["cpu"], one["wall"],
                          " + ".join("%d" % h["queried"] for h in halves),
                          " + ".join("%d" % h["calls"] for h in halves),
                          " + ".join("%.2f" % h["cpu"] for h in halves), 100 * cpu_share[0], 100 * cpu_share[1],
                          " / ".join("%.2f" % h["wall"] for h in halves)),
             "goal": "calls constant per instance; each of 2 does about half",
             "met": all(0.3 <= s <= 0.7 for s in share) and max(h["calls"] for h in halves) <= one["calls"] + 2,
             "raw": {"one": one, "two": halves}}]


def main() -> int:
    return common.main_n(__doc__, run, 1000)


if __name__ == "__main__":
    sys.exit(main())
