"""Query cost of one poll cycle over N tracked RUNNING executions: ours (query_many) vs naive.

Each tracked execution is parked: its one task `wait` (std.async_noop) runs forever. Per cycle
we count HTTP calls to Mistral and CPU seconds of this process (the querier) and of Mistral.
"naive" is StackStorm's old querier at its cheapest (tasks unchanged since the last cycle): GET
the execution + list its tasks, per execution.
Usage: python bench/query_cost.py [--sizes 10,100,1000]
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Tuple

import common
import requests

PARK = "bench.park"
DEFINITION = """version: '2.0'
bench.park:
  tasks:
    wait:
      action: std.async_noop
"""


class CountingAdapter(requests.adapters.HTTPAdapter):
    """Counts every HTTP request sent through it."""

    def __init__(self) -> None:
        super().__init__(pool_maxsize=8)
        self.count = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.count += 1
        return super().send(request, **kwargs)


def _api() -> Tuple[Any, CountingAdapter]:
    from oslo_config import cfg

    from mistral_v2 import config
    from mistral_v2.mistral_api import MistralAPI

    adapter = CountingAdapter()
    return MistralAPI(conf=config.get(cfg.CONF), transport=adapter), adapter


def park(client: Any, count: int, workflow: str = PARK) -> List[Tuple[str, Dict[str, Any]]]:
    """Start `count` parked executions the way the runner does (description st2:<id>)."""
    def one(_: int) -> Tuple[str, Dict[str, Any]]:
        st2_id = uuid.uuid4().hex[:24]
        ex = client.executions.create(workflow, description="st2:%s" % st2_id)
        return st2_id, {"execution_id": ex.id, "workflow_name": workflow}

    with ThreadPoolExecutor(4) as pool:
        items = list(pool.map(one, range(count)))
    deadline = time.monotonic() + 300
    ids = {ctx["execution_id"] for _, ctx in items}
    while True:  # wait until every `wait` task runs (the engine has settled)
        running = {t.workflow_execution_id for t in
                   client.tasks.list(name="wait", state="RUNNING", limit=-1, workflow_name=workflow)
                   if t.workflow_execution_id in ids}
        if running >= ids:
            return items
        failed = [e.id for e in client.executions.list(workflow_name=workflow, state="ERROR", limit=1)]
        if failed or time.monotonic() > deadline:
            raise RuntimeError("parking failed (%d of %d running; failed: %s)" % (
                len(running), len(ids), failed))
        time.sleep(0.5)


def _cycle(mistral: common.Mistral, adapter: CountingAdapter, fn: Callable[[], Any]) -> Dict[str, float]:
    calls0, cpu0, srv0, t0 = adapter.count, time.process_time(), mistral.cpu_seconds(), time.perf_counter()
    answer = fn()
    return {"calls": adapter.count - calls0, "cpu": time.process_time() - cpu0,
            "mistral_cpu": mistral.cpu_seconds() - srv0, "wall": time.perf_counter() - t0,
            "answer": answer}


def run(mistral: common.Mistral, sizes: List[int] = (10, 100, 1000)) -> List[Dict]:
    """Rows for the table; parked executions are left running (stop Mistral afterwards)."""
    import naive_query
    from oslo_config import cfg

    from mistral_v2 import config
    from mistral_v2.query import MistralResultsQuerier

    config.register_opts(cfg.CONF)
    cfg.CONF.set_override("v2_base_url", mistral.url, "mistral")
    client = mistral.client()
    client.workflows.create(DEFINITION)
    api, adapter = _api()
    querier = MistralResultsQuerier(api=api)
    items: List[Tuple[str, Dict[str, Any]]] = []
    rows = []
    for size in sorted(sizes):
        items += park(client, size - len(items))
        querier.query_many([("warm", {})])  # warm: client and connections
        ours = _cycle(mistral, adapter, lambda: querier.query_many(items))
        naive = _cycle(mistral, adapter, lambda: naive_query.old_st2_cycle(api, items))
        statuses = {s for s, _ in ours.pop("answer").values()}
        if statuses != {"running"} or set(naive.pop("answer").values()) != {"running"}:
            raise RuntimeError("parked executions are not all running: %s" % statuses)
        if size >= 1000:
            batch = cfg.CONF.mistral.query_batch_size
            chunks = [items[i:i + batch] for i in range(0, len(items), batch)]
            host_way = _cycle(mistral, adapter, lambda: [querier.query_many(c) for c in chunks])
            host_way.pop("answer")
            rows.append({"bench": "query cycle, %d running, split in query_many calls of %d "
                                  "(the host before it made 1 call per cycle)" % (size, batch),
                         "value": "calls %d; CPU %.2f+%.2f s; wall %.2f s" % (
                             host_way["calls"], host_way["cpu"], host_way["mistral_cpu"], host_way["wall"]),
                         "goal": "measured", "met": None, "raw": {"size": size, "host_way": host_way}})
        rows.append({"bench": "query cycle, %d running" % size,
                     "value": "calls %d vs %d; CPU %.2f+%.2f s vs %.2f+%.2f s; wall %.2f vs %.2f s" % (
                         ours["calls"], naive["calls"], ours["cpu"], ours["mistral_cpu"],
                         naive["cpu"], naive["mistral_cpu"], ours["wall"], naive["wall"]),
                     "goal": "calls constant; >=10x fewer calls, >=5x less CPU at 1000",
                     "met": None, "raw": {"size": size, "ours": ours, "naive": naive}})
    _judge(rows)
    return rows


def _judge(rows: List[Dict]) -> None:
    rows = [r for r in rows if "ours" in r["raw"]]
    base = rows[0]["raw"]["ours"]["calls"]
    for row in rows:
        ours, naive = row["raw"]["ours"], row["raw"]["naive"]
        cpu_ratio = (naive["cpu"] + naive["mistral_cpu"]) / max(1e-9, ours["cpu"] + ours["mistral_cpu"])
        row["raw"]["call_ratio"] = naive["calls"] / max(1, ours["calls"])
        row["raw"]["cpu_ratio"] = cpu_ratio
        row["value"] += "; x%.0f calls, x%.1f CPU" % (row["raw"]["call_ratio"], cpu_ratio)
        if row["raw"]["size"] >= 1000:
            row["met"] = row["raw"]["call_ratio"] >= 10 and cpu_ratio >= 5
        else:
            row["met"] = ours["calls"] <= base + row["raw"]["size"] // 100
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--url", help="existing Mistral (its CPU is then not measured)")
    args = parser.parse_args()
    mistral = common.Mistral(url=args.url)
    try:
        for row in run(mistral, [int(s) for s in args.sizes.split(",")]):
            print("%-28s %s" % (row["bench"], row["value"]))
    finally:
        mistral.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
