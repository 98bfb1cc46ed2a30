"""Mistral down while workflows run: nothing fails within the grace period, everything completes once
Mistral is back (same port, same database); past the grace period executions fail with a clear reason."""
from __future__ import annotations

import time

import pytest
from mistralclient.api import client as mistral_client
from result_shape import output_of
from test_faults_support import api, kill_mistral, make_host, mistral_executions_for, own_mistral, restart_mistral

pytestmark = pytest.mark.integration
__all__ = ["make_host", "own_mistral"]  # fixtures used below

SURVIVE_CONF = """[mistral]
unreachable_grace_period = 600
retry_attempts = 200
retry_exp_msec = 100
retry_exp_max_msec = 500
retry_stop_max_msec = 90000
jitter_interval = 0
request_timeout = 5
"""

GRACE_CONF = """[mistral]
unreachable_grace_period = 3
retry_attempts = 2
retry_exp_msec = 50
retry_exp_max_msec = 100
retry_stop_max_msec = 1000
jitter_interval = 0
request_timeout = 2
"""


def _child_of(host, ex_id):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = host.get(ex_id).get("children") or []
        if children:
            return children
        time.sleep(0.2)
    raise AssertionError("no child for %s" % ex_id)


def test_workflows_survive_a_mistral_outage_and_complete_after_restart(own_mistral, make_host):
    host = make_host(own_mistral.url, SURVIVE_CONF)
    running = [host.run_async("faulttest.child_then_echo", "word=w%d" % i, "seconds=4") for i in range(3)]
    for ex_id in running:
        host.wait(ex_id, ["running"], require_mistral=True)
        _child_of(host, ex_id)  # the StackStorm child (sleeping) exists: Mistral waits for its callback

    kill_mistral(own_mistral)
    started_down = host.run_async("faulttest.child_then_echo", "word=late", "seconds=1")  # start retries
    time.sleep(6)  # the children finish meanwhile; their callbacks to Mistral fail and are retried
    for ex_id in running + [started_down]:
        assert host.get(ex_id)["status"] == "running", host.get(ex_id)
    children = [host.get(_child_of(host, ex_id)[0]) for ex_id in running]
    assert all(c["status"] == "succeeded" for c in children), [c["status"] for c in children]

    restart_mistral(own_mistral)
    for i, ex_id in enumerate(running):
        doc = host.wait(ex_id, ["succeeded", "failed"], timeout=120)
        assert doc["status"] == "succeeded", doc["result"]
        assert output_of(doc["result"]) == {"said": "child-w%d" % i, "echoed": "child-w%d-echoed" % i}
    doc = host.wait(started_down, ["succeeded", "failed"], timeout=120)
    assert doc["status"] == "succeeded", doc["result"]
    assert doc["result"]["said"] == "child-late"

    client = mistral_client.client(mistral_url=own_mistral.url)
    for ex_id in running + [started_down]:
        assert len(mistral_executions_for(client, ex_id)) == 1  # a retried start never duplicates
        assert len(host.get(ex_id)["children"]) == 1  # nor does a retried st2.action


def test_past_the_grace_period_executions_fail_with_mistral_unreachable(own_mistral, make_host):
    host = make_host(own_mistral.url, GRACE_CONF)
    ex_id = host.run_async("faulttest.child_then_echo", "word=gone", "seconds=60")
    host.wait(ex_id, ["running"], require_mistral=True)
    child = _child_of(host, ex_id)[0]
    kill_mistral(own_mistral)
    doc = host.wait(ex_id, ["failed", "succeeded", "canceled"], timeout=60)
    assert doc["status"] == "failed"
    assert "Mistral unreachable since" in doc["result"]["error"], doc["result"]
    shown = host.st2("execution", "get", ex_id, check=False)
    assert "Mistral unreachable since" in shown.stdout
    assert api(host, "DELETE", "/executions/%s" % child).ok  # the sleeping child: not needed any more
