"""Multi-task re-run on a real Mistral 23: with the plugin's batch fix one API call re-runs every
failed task atomically (Mistral 23 race, docs/upstream-multi-task-rerun-race.md); without it the
runner falls back to one call per task."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Dict, List, Tuple

import pytest
from unpatched import mistral_without

from mistral_v2 import config, rerun
from mistral_v2.mistral_api import MistralAPI

pytestmark = pytest.mark.integration

RUNS = 15
DONE = ("SUCCESS", "ERROR", "CANCELLED")

# t3 and t4 are instant and run in parallel; both fail until env().size is an integer.
WORKFLOW = """
version: '2.0'
{name}:
  output:
    r3: <% $.r3 %>
    r4: <% $.r4 %>
  tasks:
    t1:
      action: std.noop
      on-success: [t3, t4]
    t3:
      action: std.test_dict
      input:
        size: <% int(env().get('size', 'not yet')) %>
        key_prefix: a
        val: x
      publish:
        r3: <% task().result %>
    t4:
      action: std.test_dict
      input:
        size: <% int(env().get('size', 'not yet')) %>
        key_prefix: b
        val: y
      publish:
        r4: <% task().result %>
"""


# A with-items task (item 1 fails) next to a plain task, both failing until env().fixed is true.
WITH_ITEMS = """
version: '2.0'
{name}:
  tasks:
    t1:
      action: std.noop
      on-success: [t3, wi]
    t3:
      action: std.test_dict
      input:
        size: <% switch(env().get('fixed', false) => 1, true => 'broken') %>
        key_prefix: a
        val: x
    wi:
      with-items: i in <% [0, 1, 2] %>
      action: std.test_dict
      input:
        size: <% switch($.i = 1 and not env().get('fixed', false) => 'broken', true => 1) %>
        key_prefix: i<% $.i %>_
        val: <% $.i %>
"""


class CountingAPI(MistralAPI):
    """MistralAPI recording every tasks.rerun call it makes."""

    def __init__(self, url: str) -> None:
        config.register_opts()
        super().__init__(url=url, conf=config.get())
        self.reruns: List[Tuple[str, bool]] = []

    def rerun_task(self, task_id: str, reset: bool = True, env: Any = None) -> Dict[str, Any]:
        self.reruns.append((task_id, reset))
        return super().rerun_task(task_id, reset=reset, env=env)


def _workflow(client: Any) -> str:
    name = "rerunbatch_%s" % uuid.uuid4().hex[:8]
    client.workflows.create(WORKFLOW.format(name=name))
    return name


def _failed_run(client: Any, wait_for_state: Any, name: str) -> Any:
    ex = client.executions.create(name, workflow_input={}, params={"env": {}})
    ex = wait_for_state(client, ex.id, DONE)
    assert ex.state == "ERROR", ex.state_info
    states = {t.name: t.state for t in client.tasks.list(workflow_execution_id=ex.id)}
    assert states == {"t1": "SUCCESS", "t3": "ERROR", "t4": "ERROR"}
    return ex


def _task_states(client: Any, ex_id: str) -> Dict[str, str]:
    return {t.name: t.state for t in client.tasks.list(workflow_execution_id=ex_id)}


def _rerun_both(api: CountingAPI, ex_id: str, attempt: int) -> None:
    rerun.rerun_tasks(api, {"mistral": {"execution_id": ex_id}}, ["t3", "t4"],
                      env={"st2_execution_id": "st2-batch-%d" % attempt}, overrides={"size": 1})


def _batches_left(client: Any, ex_id: str) -> Dict[str, Any]:
    env = json.loads(client.executions.get(ex_id).params).get("env") or {}
    return env.get(rerun.RERUN_BATCH_KEY) or {}


def test_two_instant_parallel_tasks_rerun_atomically(mistral_server, mistral_client, wait_for_state):
    client = mistral_client
    name = _workflow(client)
    for attempt in range(RUNS):
        ex = _failed_run(client, wait_for_state, name)
        api = CountingAPI(mistral_server.url)
        _rerun_both(api, ex.id, attempt)
        # One API call re-ran both tasks, and both left ERROR inside that call's transaction.
        assert len(api.reruns) == 1, api.reruns
        assert "ERROR" not in _task_states(client, ex.id).values()
        final = wait_for_state(client, ex.id, DONE)
        assert final.state == "SUCCESS", (attempt, final.state_info, _task_states(client, ex.id))
        assert json.loads(final.output) == {"r3": {"a0": "x"}, "r4": {"b0": "y"}}
        assert _batches_left(client, ex.id) == {}
        for task in client.tasks.list(workflow_execution_id=ex.id):
            if task.name in ("t3", "t4"):
                # reset=True: the failed attempt's action executions were discarded
                actions = client.action_executions.list(task_execution_id=task.id)
                assert [a.state for a in actions if a.accepted] == ["SUCCESS"], task.name


def test_batch_keeps_each_tasks_reset_flag_and_skips_tasks_not_in_it(mistral_server, mistral_client,
                                                                     wait_for_state):
    client = mistral_client
    name = _workflow(client)
    ex = _failed_run(client, wait_for_state, name)
    api = CountingAPI(mistral_server.url)
    # An entry written by an earlier re-run (other "for") is ignored: tasks re-run one by one.
    t3, t4 = (next(t.id for t in client.tasks.list(workflow_execution_id=ex.id) if t.name == n)
              for n in ("t3", "t4"))
    client.executions.update(ex.id, None, env={rerun.RERUN_BATCH_KEY: {ex.id: {
        "primary": t3, "for": "someone-else", "tasks": [{"task_execution_id": t4, "reset": True}]}},
        "size": 1})
    api.rerun_task(t3)
    assert _task_states(client, ex.id)["t4"] == "ERROR"  # the stale entry did not re-run t4
    final = wait_for_state(client, ex.id, DONE)
    assert final.state == "ERROR"
    assert _task_states(client, ex.id) == {"t1": "SUCCESS", "t3": "SUCCESS", "t4": "ERROR"}


def test_batch_with_a_with_items_task_not_reset_reruns_only_its_failed_item(mistral_server, mistral_client,
                                                                           wait_for_state):
    client = mistral_client
    name = "rerunbatch_wi_%s" % uuid.uuid4().hex[:8]
    client.workflows.create(WITH_ITEMS.format(name=name))
    ex = wait_for_state(client, client.executions.create(name, params={"env": {}}).id, DONE)
    assert ex.state == "ERROR"
    assert _task_states(client, ex.id) == {"t1": "SUCCESS", "t3": "ERROR", "wi": "ERROR"}
    api = CountingAPI(mistral_server.url)
    rerun.rerun_tasks(api, {"mistral": {"execution_id": ex.id}}, ["t3", "wi"], no_reset=["wi"],
                      env={"st2_execution_id": "st2-wi"}, overrides={"fixed": True})
    assert len(api.reruns) == 1
    final = wait_for_state(client, ex.id, DONE)
    assert final.state == "SUCCESS", final.state_info
    wi = next(t for t in client.tasks.list(workflow_execution_id=ex.id) if t.name == "wi")
    actions = client.action_executions.list(task_execution_id=wi.id)
    # items 0 and 2 kept their first run (reset=False); only item 1 ran again
    assert len(actions) == 4
    assert sorted(json.loads(client.tasks.get(wi.id).result), key=str) == [
        {"i0_0": 0}, {"i1_0": 1}, {"i2_0": 2}]


@pytest.fixture(scope="module")
def unpatched_mistral():
    """A second real Mistral whose plugin has the re-run batch fix switched off."""
    with mistral_without("ST2MISTRAL_RERUN_BATCH_FIX") as info:
        yield info


def test_without_the_fix_the_runner_falls_back_to_one_call_per_task(unpatched_mistral, wait_for_state):
    from mistralclient.api import client as mistral_client

    client = mistral_client.client(mistral_url=unpatched_mistral.url)
    name = _workflow(client)
    ex = _failed_run(client, wait_for_state, name)
    api = CountingAPI(unpatched_mistral.url)
    _rerun_both(api, ex.id, 0)
    assert len(api.reruns) == 2, api.reruns
    # Unpatched Mistral leaves the entry (env cannot change once RUNNING); it names this re-run
    # only, so the plugin would ignore it later.
    assert _batches_left(client, ex.id)[ex.id]["for"] == "st2-batch-0"
    wait_for_state(client, ex.id, DONE)
    settled = _wait_tasks_settled(client, ex.id)
    assert settled == {"t1": "SUCCESS", "t3": "SUCCESS", "t4": "SUCCESS"}
    # The workflow itself may end SUCCESS or, when the race hit (measured about 1 in 20 here),
    # ERROR for good although every task is SUCCESS: timing-dependent, so not asserted.


def _wait_tasks_settled(client: Any, ex_id: str, timeout: float = 60.0) -> Dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        states = _task_states(client, ex_id)
        if "RUNNING" not in states.values() or time.monotonic() > deadline:
            return states
        time.sleep(0.1)
