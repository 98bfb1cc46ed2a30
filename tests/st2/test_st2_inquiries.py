"""An Inquiry (core.ask) inside a workbook subworkflow of a mistral-v2 workflow, on real
StackStorm 3.9: the workflow is `paused` while the inquiry waits, `st2 inquiry respond` resumes
it and the answer reaches the task that asked, then the main workflow (the examples pack's
mistral-ask-basic/-parent cover a direct task and a child StackStorm workflow:
tests/integration/test_examples_pack.py)."""
from __future__ import annotations

import json
import time
from typing import Any, Dict

import pytest
from result_shape import output_of

pytestmark = [pytest.mark.st2, pytest.mark.integration]


def _pending_inquiry(stack: Any, ex_id: str, timeout: float = 90) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = [stack.get(c) for c in stack.get(ex_id).get("children") or []]
        asks = [k for k in kids if k["action"]["ref"] == "core.ask" and k["status"] == "pending"]
        if asks:
            return asks[0]
        time.sleep(0.2)
    raise AssertionError("no pending core.ask below %s in %ss" % (ex_id, timeout))


def _inquiry_ids(stack: Any) -> list:
    """Ids `st2 inquiry list` shows (the CLI prints text, not JSON, when there is none)."""
    listed = stack.run_cli("inquiry", "list")
    return [i["id"] for i in listed] if isinstance(listed, list) else []


def test_an_inquiry_in_a_workbook_subworkflow_pauses_the_workflow_until_answered(st2_stack):
    ex_id = st2_stack.run_async("st2_only.ask_in_subworkflow")
    inquiry = _pending_inquiry(st2_stack, ex_id)
    assert inquiry["context"]["parent"]["execution_id"] == ex_id  # StackStorm's parent: the root
    doc = st2_stack.wait_for_status(ex_id, ["paused", "succeeded", "failed"], timeout=90)
    assert doc["status"] == "paused", json.dumps(doc["result"])[:2000]
    assert inquiry["id"] in _inquiry_ids(st2_stack)
    assert st2_stack.run_cli("inquiry", "get", inquiry["id"])["route"] == "ops"
    st2_stack.st2("inquiry", "respond", "-r", '{"approved": true}', inquiry["id"])
    doc = st2_stack.wait_for_status(ex_id, ["succeeded", "failed", "canceled"], timeout=120)
    assert doc["status"] == "succeeded", json.dumps(doc["result"])[:2000]
    assert output_of(doc["result"]) == {"answer": {"approved": True}, "said": "approved=True"}
    assert st2_stack.get(inquiry["id"])["result"]["response"] == {"approved": True}
    assert inquiry["id"] not in _inquiry_ids(st2_stack)


def _pending_inquiries(stack: Any, ex_id: str, count: int, timeout: float = 90) -> Dict[str, Dict[str, Any]]:
    """route -> pending core.ask child of `ex_id`, once `count` of them are pending."""
    deadline = time.monotonic() + timeout
    found: Dict[str, Dict[str, Any]] = {}
    while time.monotonic() < deadline:
        kids = [stack.get(c) for c in stack.get(ex_id).get("children") or []]
        found = {k["result"]["route"]: k for k in kids
                 if k["action"]["ref"] == "core.ask" and k["status"] == "pending"}
        if len(found) == count:
            return found
        time.sleep(0.2)
    raise AssertionError("%d pending core.ask below %s, not %d" % (len(found), ex_id, count))


def test_two_inquiries_at_once_pause_the_workflow_and_each_answer_counts(st2_stack):
    """The second inquiry may go pending after the workflow's pause began (its runner then did not
    see it pending): st2mistral-sync pauses its Mistral task, so the workflow still ends `paused`,
    not `pausing`, and the first answer can resume it. The workflow waits (running) for the second
    answer, then completes with both."""
    ex_id = st2_stack.run_async("st2_only.ask_twice")
    asks = _pending_inquiries(st2_stack, ex_id, 2)
    doc = st2_stack.wait_for_status(ex_id, ["paused", "succeeded", "failed"], timeout=90)
    assert doc["status"] == "paused", json.dumps(doc["result"])[:2000]
    assert sorted(i for i in _inquiry_ids(st2_stack) if i in (asks["a"]["id"], asks["b"]["id"])) == sorted(
        [asks["a"]["id"], asks["b"]["id"]])
    st2_stack.st2("inquiry", "respond", "-r", '{"word": "hello"}', asks["a"]["id"])
    assert st2_stack.wait_for_status(ex_id, ["running"], timeout=90)["status"] == "running"
    assert st2_stack.get(asks["b"]["id"])["status"] == "pending"
    st2_stack.st2("inquiry", "respond", "-r", '{"word": "world"}', asks["b"]["id"])
    doc = st2_stack.wait_for_status(ex_id, ["succeeded", "failed", "canceled"], timeout=120)
    assert doc["status"] == "succeeded", json.dumps(doc["result"])[:2000]
    assert output_of(doc["result"]) == {"said": "hello world"}
