"""The batched querier answers exactly like per-execution queries, on a real Mistral 23, in a
number of Mistral calls that does not grow with the number of executions."""
from __future__ import annotations

import os
import sys
import uuid
from typing import Any, Dict, List, Tuple

import pytest
import requests
from oslo_config import cfg

from mistral_v2 import config, query
from mistral_v2.mistral_api import MistralAPI

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import naive_query  # noqa: E402
from result_shape import output_of

pytestmark = pytest.mark.integration

PREFIX = "qeq_%s" % uuid.uuid4().hex[:8]
WORKFLOWS = """version: '2.0'
{p}.succeed:
  input:
    - password
  tasks:
    first:
      action: std.echo
      input:
        output: {{"a": 1}}
      publish:
        first: <% task().result %>
        password: <% $.password %>
      on-success: many
    many:
      with-items: i in <% [1, 2, 3] %>
      action: std.echo
      input:
        output: <% $.i * 10 %>
      publish:
        many: <% task().result %>
  output:
    first: <% $.first %>
    many: <% $.many %>
{p}.fail:
  tasks:
    boom:
      action: std.fail
{p}.park:
  tasks:
    echo:
      action: std.echo
      input:
        output: parked
      on-success: wait
    wait:
      action: std.async_noop
""".format(p=PREFIX)

WORKBOOK = """version: '2.0'
name: {p}_wb
workflows:
  main:
    tasks:
      call:
        workflow: middle
        publish:
          got: <% task().result %>
    output:
      got: <% $.got %>
  middle:
    tasks:
      hello:
        action: std.echo
        input:
          output: middle
        on-success: deeper
      deeper:
        workflow: leaf
    output:
      leaf: done
  leaf:
    tasks:
      hi:
        action: std.echo
        input:
          output: leaf
  broken:
    tasks:
      call:
        workflow: failing
  failing:
    tasks:
      boom:
        action: std.fail
""".format(p=PREFIX)

Items = List[Tuple[str, Dict[str, Any]]]


class CountingAdapter(requests.adapters.HTTPAdapter):
    """Counts the HTTP requests the querier sends to Mistral."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        self.count += 1
        return super().send(request, **kwargs)


@pytest.fixture(scope="module")
def setup(mistral_server):
    """Executions in every interesting state, started the way the runner starts them."""
    from mistralclient.api import client as mistral_client

    from st2mistral_server.waiting import wait_for_state

    config.register_opts()
    cfg.CONF.set_override("v2_base_url", mistral_server.url, "mistral")
    client = mistral_client.client(mistral_url=mistral_server.url)
    client.workflows.create(WORKFLOWS)
    client.workbooks.create(WORKBOOK)
    started: Dict[str, Tuple[str, Dict[str, Any], Dict[str, Any]]] = {}

    def start(kind: str, workflow: str, wf_input: Dict[str, Any] = None, **ctx: Any) -> str:
        st2_id = uuid.uuid4().hex[:24]
        ex = client.executions.create(workflow, workflow_input=wf_input or {},
                                      description=query.description_for(st2_id))
        started[kind] = (st2_id, ex.id, dict(ctx, execution_id=ex.id, workflow_name=workflow))
        return ex.id

    succeeded = start("succeeded", PREFIX + ".succeed", {"password": "s3cret"},
                      secret_parameters=["password"])
    failed = start("failed", PREFIX + ".fail")
    running = start("running", PREFIX + ".park")
    paused = start("paused", PREFIX + ".park")
    workbook = start("workbook", PREFIX + "_wb.main")
    workbook_failed = start("workbook_failed", PREFIX + "_wb.broken")

    for ex_id, state in ((succeeded, "SUCCESS"), (failed, "ERROR"), (workbook, "SUCCESS"),
                         (workbook_failed, "ERROR")):
        wait_for_state(client, ex_id, state)
    for ex_id in (running, paused):
        wait_for_task(client, ex_id, "wait", "RUNNING")
    client.executions.update(paused, "PAUSED")
    wait_for_state(client, paused, "PAUSED")
    items: Items = [(st2_id, ctx) for st2_id, _, ctx in started.values()]
    kinds = {st2_id: kind for kind, (st2_id, _, _) in started.items()}
    yield items, kinds
    client.executions.update(running, "CANCELLED")
    client.executions.update(paused, "CANCELLED")
    cfg.CONF.clear_override("v2_base_url", "mistral")


def wait_for_task(client: Any, ex_id: str, name: str, state: str, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(t.name == name and t.state == state for t in client.tasks.list(ex_id)):
            return
        time.sleep(0.2)
    raise AssertionError("task %s of %s never reached %s" % (name, ex_id, state))


def counted_api() -> Tuple[MistralAPI, CountingAdapter]:
    adapter = CountingAdapter()
    return MistralAPI(conf=config.get(), transport=adapter), adapter


def test_statuses_of_the_mix(setup):
    items, kinds = setup
    answer = query.MistralResultsQuerier(api=counted_api()[0]).query_many(items)
    got = {kinds[st2_id]: status for st2_id, (status, _) in answer.items()}
    assert got == {"succeeded": "succeeded", "failed": "failed", "running": "running",
                   "paused": "pausing",  # paused with its async task still running
                   "workbook": "succeeded", "workbook_failed": "failed"}


def test_batched_equals_per_execution_reference(setup):
    items, kinds = setup
    api, _ = counted_api()
    batched = query.MistralResultsQuerier(api=api).query_many(items)
    reference = naive_query.query_each(api, items)
    for st2_id in reference:
        assert batched[st2_id] == reference[st2_id], kinds[st2_id]
    assert set(batched) == set(reference)


def test_batched_equals_single_queries(setup):
    items, kinds = setup
    querier = query.MistralResultsQuerier(api=counted_api()[0])
    batched = querier.query_many(items)
    for st2_id, ctx in items:
        assert batched[st2_id] == querier.query(st2_id, ctx), kinds[st2_id]


def test_result_content_is_complete(setup):
    items, kinds = setup
    by_kind = {kinds[i]: r for i, (_, r) in query.MistralResultsQuerier(
        api=counted_api()[0]).query_many(items).items()}
    ok = by_kind["succeeded"]
    assert output_of(ok) == {"first": {"a": 1}, "many": [10, 20, 30]}
    tasks = {t["name"]: t for t in ok["tasks"]}  # same-second tasks have no defined order
    assert sorted(tasks) == ["first", "many"]
    assert tasks["many"]["result"] == [10, 20, 30]  # item order, as Mistral's own task result
    assert tasks["many"]["input"] == [{"output": 10}, {"output": 20}, {"output": 30}]
    assert tasks["first"]["published"]["password"] == "********"
    names = sorted(t["name"] for t in by_kind["workbook"]["tasks"])
    assert names == ["call"]  # the root workflow's tasks (StackStorm's shape)
    assert by_kind["workbook_failed"]["extra"]["state"] == "ERROR"
    assert by_kind["workbook_failed"]["extra"]["state_info"]
    cfg.CONF.set_override("result_format", "nested", "mistral")
    try:
        nested = query.MistralResultsQuerier(api=counted_api()[0]).query_many(items)
    finally:
        cfg.CONF.clear_override("result_format", "mistral")
    by_kind = {kinds[i]: r for i, (_, r) in nested.items()}
    names = sorted(t["name"] for t in by_kind["workbook"]["tasks"])
    assert names == ["call", "deeper", "hello", "hi"]  # "nested": sub-workflow tasks at every depth
    assert by_kind["workbook_failed"]["error"]


def test_deleted_execution_matches_reference(setup):
    items, _ = setup
    gone: Items = [("0" * 24, {"execution_id": str(uuid.uuid4()), "workflow_name": PREFIX + ".park"})]
    api, _ = counted_api()
    batched = query.MistralResultsQuerier(api=api).query_many(items + gone)
    status, result = batched["0" * 24]
    assert status == "failed" and "no longer exists" in result["error"]
    assert naive_query.query_each(api, gone) == {"0" * 24: (status, result)}


def test_calls_do_not_grow_with_executions(setup):
    items, _ = setup
    api, adapter = counted_api()
    querier = query.MistralResultsQuerier(api=api)
    querier.query_many(items[:1])  # builds the client
    adapter.count = 0
    querier.query_many(items[:1])
    one = adapter.count
    adapter.count = 0
    querier.query_many(items)
    assert adapter.count == one == 4  # roots, sub-workflows, tasks, action executions
    adapter.count = 0
    naive_query.query_each(api, items)
    assert adapter.count > 4 * len(items)
