"""Push and polling agree: what the plugin's `st2` publisher pushes to the host equals what the
batched querier reads back from Mistral, on a real Mistral 23 and a real host process."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from oslo_config import cfg

from mistral_v2 import config, query

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import common  # noqa: E402

pytestmark = pytest.mark.integration

EXTRA = {
    "items": """version: '2.0'
bench.items:
  tasks:
    first:
      action: std.echo
      input:
        output: {"a": 1}
      on-success: many
    many:
      with-items: i in <% [1, 2, 3, 4] %>
      action: std.echo
      input:
        output: <% $.i * 10 %>
      on-success: call
    call:
      action: st2.action
      input:
        ref: core.noop
""",
    "broken": """version: '2.0'
bench.broken:
  tasks:
    ok:
      action: std.noop
      on-success: boom
    boom:
      action: std.fail
""",
}


@pytest.fixture(scope="module")
def pushed(mistral_server, tmp_path_factory):
    """Final docs of workflows run through a host that polls only once an hour (push only)."""
    pack = common.write_pack(tmp_path_factory.mktemp("pushpack") / "bench")
    for name, text in EXTRA.items():
        (pack / "actions" / ("%s.yaml" % name)).write_text(
            "name: %s\nrunner_type: mistral-v2\nentry_point: workflows/%s.yaml\n" % (name, name))
        (pack / "actions" / "workflows" / ("%s.yaml" % name)).write_text(text)
    host = common.Host(mistral_server.url, Path(pack), polling=False, query_interval=3600)
    try:
        ids = [host.run(ref) for ref in ("bench.items", "bench.flow", "bench.broken", "bench.quick")]
        docs = [host.wait(ex_id, timeout=90) for ex_id in ids]
    finally:
        host.stop()
    config.register_opts()
    cfg.CONF.set_override("v2_base_url", mistral_server.url, "mistral")
    yield docs
    cfg.CONF.clear_override("v2_base_url", "mistral")


def test_push_delivers_every_final_status(pushed):
    assert [d["status"] for d in pushed] == ["succeeded", "succeeded", "failed", "succeeded"]


def test_pushed_result_equals_polled_result(pushed):
    querier = query.MistralResultsQuerier()
    polled = querier.query_many([(d["id"], d["context"]["mistral"]) for d in pushed])
    for doc in pushed:
        assert polled[doc["id"]] == (doc["status"], doc["result"]), doc["action"]["ref"]


def test_pushed_with_items_result_is_in_item_order(pushed):
    tasks = {t["name"]: t for t in pushed[0]["result"]["tasks"]}
    assert tasks["many"]["result"] == [10, 20, 30, 40]
