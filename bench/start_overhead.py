"""Runner start vs direct mistralclient executions.create on a real Mistral: medians and ratio.

Usage: python bench/start_overhead.py [--url http://127.0.0.1:PORT/v2] [-n 30] [--variants]
Without --url an embedded Mistral is started (st2mistral_server) and stopped at the end.
--variants: instead, bisect Mistral's cost of the request: the same direct POST bare, with the
runner's env, with an execution `id`, with both, with the runner's description (interleaved).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import types
import uuid
from typing import Callable, Dict, List

import requests
from oslo_config import cfg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WF_NAME = "bench.start"
DEFINITION = """version: '2.0'
bench.start:
  input:
    - who
  tasks:
    hello:
      action: std.echo output=<% $.who %>
"""


def _runner(entry_point: str) -> "object":
    from mistral_v2 import mistral_v2

    st2_id = uuid.uuid4().hex[:24]
    r = mistral_v2.get_runner()
    r.runner_type = types.SimpleNamespace(name="mistral-v2", enabled=True)
    r.runner_parameters = {"context": {}, "skip_notify": []}
    r.action = types.SimpleNamespace(pack="bench", name="start", ref=WF_NAME, entry_point="start.yaml",
                                     parameters={"who": {"type": "string", "required": True}})
    r.liveaction = types.SimpleNamespace(id=st2_id, status="requested", context={"user": "stanley"},
                                         parameters={}, result={}, callback={})
    r.liveaction_id = r.execution_id = st2_id
    r.entry_point = entry_point
    r.context = r.liveaction.context
    r.auth_token = types.SimpleNamespace(token="bench-token")
    r.rerun_ex_ref = None
    r.pre_run()
    return r


def _time(fn: Callable[[], str], settle: Callable[[str], None], n: int) -> List[float]:
    """Durations of `n` calls of `fn`; after each (untimed) wait until that execution finished,
    so every start is measured on an idle server (started workflows otherwise compete for CPU)."""
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        ex_id = fn()
        samples.append(time.perf_counter() - t0)
        settle(ex_id)
    return samples


def _configure(url: str, workdir: str) -> str:
    """The runner's [mistral] options for Mistral at `url` (polling on); DEFINITION written to
    workdir/start.yaml, whose path is returned (the action's entry point)."""
    from mistral_v2 import config

    config.register_opts()
    cfg.CONF.set_override("v2_base_url", url, "mistral")
    cfg.CONF.set_override("api_url", "http://127.0.0.1:9101/api/v1", "mistral")
    cfg.CONF.set_override("enable_polling", True, "mistral")
    entry = os.path.join(workdir, "start.yaml")
    with open(entry, "w") as fh:
        fh.write(DEFINITION)
    return entry


def _interleaved_medians(kinds: Dict[str, Callable[[], str]], settle: Callable[[str], None],
                         n: int) -> Dict[str, float]:
    """Median start time of each kind over `n` rounds, every round in a shuffled order (seeded)."""
    samples: Dict[str, List[float]] = {k: [] for k in kinds}
    order = random.Random(n)
    for _ in range(n):
        names = list(kinds)
        order.shuffle(names)
        for name in names:
            samples[name] += _time(kinds[name], settle, 1)
    return {k: statistics.median(v) for k, v in samples.items()}


def run(url: str, n: int, workdir: str) -> Dict[str, float]:
    from mistralclient.api import client as mistral_client

    entry = _configure(url, workdir)

    def runner_start() -> str:
        status, result, ctx = _runner(entry).run({"who": "bench"})
        if status != "running":
            raise SystemExit("runner start failed: %s" % result)
        return ctx["mistral"]["execution_id"]

    direct = mistral_client.client(mistral_url=url)

    def direct_start() -> str:
        return direct.executions.create(WF_NAME, workflow_input={"who": "bench"},
                                        description="bench:%s" % uuid.uuid4().hex).id

    session = requests.Session()
    env = _runner(entry).build_env()

    def same_request_start() -> str:
        """The runner's request (env + idempotency id) sent directly: what Mistral itself costs."""
        resp = session.post(url + "/executions", timeout=30, json={
            "workflow_name": WF_NAME, "input": json.dumps({"who": "bench"}), "id": str(uuid.uuid4()),
            "description": "bench:%s" % uuid.uuid4().hex, "params": json.dumps({"env": env})})
        resp.raise_for_status()
        return resp.json()["id"]

    # Waits on a connection of its own: reusing one of the measured clients' connections made
    # that client's next start faster than the others' (an order/connection effect, not a cost).
    watcher = mistral_client.client(mistral_url=url)

    def settle(ex_id: str) -> None:
        deadline = time.monotonic() + 60
        while watcher.executions.get(ex_id).state not in ("SUCCESS", "ERROR", "CANCELLED"):
            if time.monotonic() > deadline:
                raise SystemExit("execution %s did not finish within 60 s" % ex_id)
            time.sleep(0.02)

    # Warm-up: uploads the definition once and opens the connection pools on both sides.
    settle(runner_start())
    settle(direct_start())
    settle(same_request_start())
    # Interleaved so all see the same server state (executions pile up in the DB), in a shuffled
    # order each round: in a fixed order the first method of every round was measured 5-30 %
    # faster than identical requests sent later in the round.
    kinds: Dict[str, Callable[[], str]] = {"direct": direct_start, "runner": runner_start,
                                           "same_request": same_request_start}
    return _interleaved_medians(kinds, settle, n)


def variants(url: str, n: int, workdir: str) -> Dict[str, float]:
    """Medians of direct POSTs that differ in one field each (see the module docstring)."""
    entry = _configure(url, workdir)
    session = requests.Session()
    resp = session.post(url + "/workflows", data=DEFINITION, headers={"Content-Type": "text/plain"}, timeout=30)
    if resp.status_code not in (201, 409):
        resp.raise_for_status()
    env = _runner(entry).build_env()

    def post(with_id: bool, with_env: bool) -> Callable[[], str]:
        def start() -> str:
            body: Dict[str, object] = {"workflow_name": WF_NAME, "input": json.dumps({"who": "bench"}),
                                       "description": "bench:%s" % uuid.uuid4().hex}
            if with_id:
                body["id"] = str(uuid.uuid4())
            if with_env:
                body["params"] = json.dumps({"env": env})
            r = session.post(url + "/executions", json=body, timeout=30)
            r.raise_for_status()
            return str(r.json()["id"])
        return start

    watcher = requests.Session()

    def settle(ex_id: str) -> None:
        deadline = time.monotonic() + 60
        while watcher.get("%s/executions/%s" % (url, ex_id), timeout=30).json()["state"] not in (
                "SUCCESS", "ERROR", "CANCELLED"):
            if time.monotonic() > deadline:
                raise SystemExit("execution %s did not finish within 60 s" % ex_id)
            time.sleep(0.02)

    kinds = {"bare": post(False, False), "env": post(False, True), "id": post(True, False),
             "id+env": post(True, True)}
    for fn in kinds.values():
        settle(fn())  # warm-up
    return _interleaved_medians(kinds, settle, n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="Mistral v2 URL (default: start an embedded Mistral)")
    parser.add_argument("-n", type=int, default=30, help="starts measured per method")
    parser.add_argument("--variants", action="store_true", help="bisect Mistral's cost of the request")
    args = parser.parse_args()
    sys.path[:0] = [os.path.join(ROOT, "runners"), os.path.join(ROOT, "contrib")]
    import tempfile

    info = None
    url = args.url
    if not url:
        from st2mistral_server import start

        info = start(mode="embedded")
        url = info.url
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.variants:
                got = variants(url, args.n, tmp)
                for k, v in got.items():
                    print("direct POST %-7s %.1f ms (x%.2f of bare)" % (k + ":", v * 1000, v / got["bare"]))
                return 0
            medians = run(url, args.n, tmp)
    finally:
        if info is not None:
            from st2mistral_server import stop

            stop(info)
    ratio = medians["runner"] / medians["direct"]
    print("runner start median:   %.1f ms" % (medians["runner"] * 1000))
    print("direct create median:  %.1f ms" % (medians["direct"] * 1000))
    print("ratio runner/direct:   %.2f (goal <= 1.1)" % ratio)
    print("same request direct:   %.1f ms (env + idempotency id; runner/same %.2f)"
          % (medians["same_request"] * 1000, medians["runner"] / medians["same_request"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
