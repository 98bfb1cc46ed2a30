"""Load: 200 concurrent workflows with seeded random pause/resume/cancel; every execution ends in a final
state that agrees with Mistral's, none is lost or left in an intermediate state."""
from __future__ import annotations

import concurrent.futures
import json
import os
import random
import time
from typing import Dict, List, Tuple

import pytest
from mistralclient.api import client as mistral_client
from result_shape import output_of
from test_faults_support import api, make_host, own_mistral

pytestmark = [pytest.mark.integration, pytest.mark.load]
__all__ = ["make_host", "own_mistral"]

COUNT = int(os.environ.get("ST2MISTRAL_LOAD_COUNT", "200"))
SEED = 20261124
FINAL = {"succeeded": "SUCCESS", "failed": "ERROR", "canceled": "CANCELLED"}
LOAD_CONF = """[mistral]
query_batch_size = 100
retry_attempts = 8
retry_exp_msec = 200
retry_exp_max_msec = 2000
jitter_interval = 0.2
"""


def _start(host, n: int) -> str:
    resp = api(host, "POST", "/executions", json={"action": "faulttest.load", "parameters": {"n": n}})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def _request(host, ex_id: str, op: str) -> int:
    if op == "cancel":
        return api(host, "DELETE", "/executions/%s" % ex_id).status_code
    return api(host, "PUT", "/executions/%s" % ex_id, json={"status": op}).status_code


def _operate(host, ex_id: str, plan: Tuple[str, float, float]) -> List[Tuple[str, int]]:
    """Apply one planned operation sequence; returns (operation, HTTP status) pairs."""
    kind, delay, gap = plan
    done: List[Tuple[str, int]] = []
    time.sleep(delay)
    if kind in ("pause-resume", "pause-cancel"):
        code = _request(host, ex_id, "pausing")
        done.append(("pause", code))
        time.sleep(gap)
        follow = "resuming" if kind == "pause-resume" else "cancel"
        for _ in range(20):  # a resume/cancel may race the pause; retry while refused
            code = _request(host, ex_id, follow)
            if code == 200 or host.get(ex_id)["status"] in FINAL:
                break
            time.sleep(0.5)
        done.append((follow, code))
    elif kind == "cancel":
        done.append(("cancel", _request(host, ex_id, "cancel")))
    return done


def test_200_concurrent_workflows_with_random_operations_all_end_consistently(own_mistral, make_host):
    rnd = random.Random(SEED)
    host = make_host(own_mistral.url, LOAD_CONF, name="load")
    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda n: _start(host, n), range(COUNT)))
    kinds = rnd.choices(["none", "pause-resume", "cancel", "pause-cancel"], weights=[45, 30, 15, 10], k=COUNT)
    plans = {ex_id: (kind, rnd.uniform(0, 4), rnd.uniform(0.2, 2)) for ex_id, kind in zip(ids, kinds)}
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futures = {pool.submit(_operate, host, ex_id, plan): ex_id for ex_id, plan in plans.items()
                   if plan[0] != "none"}
        operations = {futures[f]: f.result() for f in concurrent.futures.as_completed(futures)}

    docs: Dict[str, dict] = {}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        docs = {ex_id: host.get(ex_id) for ex_id in ids}
        if all(d["status"] in FINAL for d in docs.values()):
            break
        time.sleep(2)
    elapsed = time.monotonic() - began
    statuses = [d["status"] for d in docs.values()]
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    refused = sum(1 for ops in operations.values() for _, code in ops if code != 200)
    print("\nLOAD: %d workflows, seed %d, %.0f s; final statuses %s; operations %d (%d refused: already final)"
          % (COUNT, SEED, elapsed, json.dumps(counts), sum(len(o) for o in operations.values()), refused))
    print("LOAD: %d never reached Mistral (canceled before start)" % sum(
        1 for d in docs.values() if "mistral" not in d["context"]))
    stuck = {ex_id: d["status"] for ex_id, d in docs.items() if d["status"] not in FINAL}
    client = mistral_client.client(mistral_url=own_mistral.url)
    assert not stuck, "left in an intermediate state: %s" % {
        ex_id: (status, operations.get(ex_id), [(e["status"], e["timestamp"]) for e in docs[ex_id]["log"]],
                client.executions.get(docs[ex_id]["context"]["mistral"]["execution_id"]).state
                if "mistral" in docs[ex_id]["context"] else None)
        for ex_id, status in stuck.items()}

    mistral = {e.id: e.state for e in client.executions.list(limit=-1)}
    mismatched = {}
    never_started = []
    for ex_id, doc in docs.items():
        mistral_id = (doc["context"].get("mistral") or {}).get("execution_id")
        if mistral_id is None:  # canceled before the runner started it: nothing in Mistral
            assert doc["status"] == "canceled", doc
            never_started.append(ex_id)
        elif mistral.get(mistral_id) != FINAL[doc["status"]]:
            mismatched[ex_id] = (doc["status"], mistral.get(mistral_id))
    assert not mismatched, mismatched
    assert len(mistral) == COUNT - len(never_started)  # one Mistral execution each, none lost or duplicated
    for ex_id, doc in docs.items():
        if doc["status"] == "succeeded":
            n = doc["parameters"]["n"]
            assert output_of(doc["result"]) == {"doubled": 2 * n, "said": "n=%d" % n}
        else:
            assert plans[ex_id][0] != "none", (ex_id, doc["status"], doc["result"])  # only operated ones end early
    for ex_id, ops in operations.items():  # every accepted cancel really canceled it
        if ("cancel", 200) in ops:
            assert docs[ex_id]["status"] == "canceled", (ex_id, ops, docs[ex_id]["status"])
