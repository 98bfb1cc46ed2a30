"""Pause/resume cascading through StackStorm action chains ("subchain"), on real StackStorm 3.9:
an action-chain parent of a mistral-v2 workflow, and a mistral-v2 workflow calling an action chain."""
from __future__ import annotations

import re
import time
from typing import Any, Dict, Tuple

import pytest

pytestmark = [pytest.mark.st2, pytest.mark.integration]


def _child(stack, ex_id: str, timeout: float = 60) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = stack.get(ex_id).get("children") or []
        if kids:
            return stack.get(kids[0])
        time.sleep(0.2)
    raise AssertionError("execution %s started no child in %ss" % (ex_id, timeout))


def _both_paused(stack, parent_ref: str, child_ref: str, pause_child: bool) -> Tuple[str, Dict[str, Any]]:
    """`parent_ref` started with its `child_ref` child running, then paused through the parent
    (down) or the child (up): both end paused. (parent id, child execution)."""
    ex_id = stack.run_async(parent_ref, "seconds=6")
    child = _child(stack, ex_id)
    assert child["action"]["ref"] == child_ref
    stack.wait_for_status(child["id"], ["running"])
    stack.st2("execution", "pause", child["id"] if pause_child else ex_id)
    assert stack.wait_for_status(child["id"], ["paused"], timeout=60)["status"] == "paused"
    assert stack.wait_for_status(ex_id, ["paused"], timeout=60)["status"] == "paused"
    return ex_id, child


def _resumed_to_success(stack, ex_id: str) -> Dict[str, Any]:
    """`st2 execution resume ex_id`; the execution once it succeeded (fails the test otherwise)."""
    stack.st2("execution", "resume", ex_id)
    done = stack.wait_for_status(ex_id, ["succeeded", "failed"], timeout=90)
    assert done["status"] == "succeeded", done["result"]
    return done


def test_pause_of_an_action_chain_cascades_down_to_its_mistral_workflow(st2_stack):
    ex_id, child = _both_paused(st2_stack, "st2_only.chain_of_mistral", "pause_examples.slow", pause_child=False)
    _resumed_to_success(st2_stack, ex_id)
    assert st2_stack.get(child["id"])["status"] == "succeeded"


def test_pause_of_a_mistral_workflow_cascades_up_to_its_action_chain_parent(st2_stack):
    ex_id, _ = _both_paused(st2_stack, "st2_only.chain_of_mistral", "pause_examples.slow", pause_child=True)
    _resumed_to_success(st2_stack, ex_id)   # resuming the chain resumes its paused child


def test_a_mistral_workflow_calling_an_action_chain_pauses_resumes_and_completes(st2_stack):
    # down: Mistral parent -> subchain
    ex_id, chain = _both_paused(st2_stack, "st2_only.mistral_calls_chain", "st2_only.chain_slow", pause_child=False)
    _resumed_to_success(st2_stack, ex_id)
    assert st2_stack.get(chain["id"])["status"] == "succeeded"


@pytest.mark.parametrize("parent_ref, child_ref, said", [
    ("st2_only.mistral_calls_chain", "st2_only.chain_slow", "mistral after chain"),
    ("st2_only.mistral_calls_orq", "st2_only.orq_slow", "mistral after orquesta"),
], ids=["action-chain", "orquesta"])
def test_pause_of_a_subchain_cascades_up_to_its_mistral_parent_and_resume_does_not(
        st2_stack, parent_ref, child_ref, said):
    """StackStorm's action-chain and orquesta runners never tell a Mistral parent; st2mistral-sync
    pauses it. Resuming the child leaves the parent paused; resuming the parent finishes everything."""
    ex_id = st2_stack.run_async(parent_ref, "seconds=8")
    chain = _child(st2_stack, ex_id)
    assert chain["action"]["ref"] == child_ref
    st2_stack.wait_for_status(chain["id"], ["running"])
    st2_stack.st2("execution", "pause", chain["id"])                 # up: subchain -> Mistral parent
    assert st2_stack.wait_for_status(ex_id, ["pausing", "paused"], timeout=60)["status"] in ("pausing", "paused")
    assert st2_stack.wait_for_status(chain["id"], ["paused"], timeout=60)["status"] == "paused"
    assert st2_stack.wait_for_status(ex_id, ["paused"], timeout=60)["status"] == "paused"
    st2_stack.st2("execution", "resume", chain["id"])                # resume does not go up
    assert st2_stack.wait_for_status(chain["id"], ["succeeded", "failed"], timeout=90)["status"] == "succeeded"
    after = ["paused", "resuming", "running", "succeeded", "failed", "canceled"]
    assert st2_stack.wait_for_status(ex_id, after, timeout=60)["status"] == "paused"  # not resumed
    asked = re.findall(r"asked %s to pause too" % ex_id, st2_stack.sync.all_text())
    assert len(asked) == 1, asked  # the chain's pausing and paused updates: one pause request
    done = _resumed_to_success(st2_stack, ex_id)
    assert said in str(done["result"])


def test_a_subchain_paused_while_no_sync_instance_ran_pauses_its_mistral_parent_when_one_starts(st2_stack):
    """The bus message of the chain's pause is missed (st2mistral-sync stopped): the service's sweep
    finds the paused chain under its running Mistral parent and pauses the parent, once."""
    ex_id = st2_stack.run_async("st2_only.mistral_calls_chain", "seconds=6")
    chain = _child(st2_stack, ex_id)
    st2_stack.wait_for_status(chain["id"], ["running"])
    st2_stack.sync.stop()
    try:
        st2_stack.st2("execution", "pause", chain["id"])
        assert st2_stack.wait_for_status(chain["id"], ["paused"], timeout=60)["status"] == "paused"
        assert st2_stack.get(ex_id)["status"] == "running"  # nobody told the Mistral parent
    finally:
        st2_stack.sync.start()
    assert st2_stack.wait_for_status(ex_id, ["paused"], timeout=60)["status"] == "paused"
    asked = re.findall(r"asked %s to pause too" % ex_id, st2_stack.sync.text(st2_stack.sync.log))
    assert len(asked) == 1, asked
    st2_stack.st2("execution", "resume", ex_id)
    done = st2_stack.wait_for_status(ex_id, ["succeeded", "failed"], timeout=90)
    assert done["status"] == "succeeded", done["result"]
    assert st2_stack.get(chain["id"])["status"] == "succeeded"


def test_a_mistral_parent_pausing_for_its_subchain_cannot_be_resumed_until_paused_then_completes(st2_stack):
    """While the chain still runs its step the parent is `pausing`: StackStorm itself refuses to
    resume it (only `paused` executions resume); it settles `paused`, and a resume then finishes all."""
    ex_id = st2_stack.run_async("st2_only.mistral_calls_chain", "seconds=10")
    chain = _child(st2_stack, ex_id)
    st2_stack.wait_for_status(chain["id"], ["running"])
    st2_stack.st2("execution", "pause", chain["id"])
    assert st2_stack.wait_for_status(ex_id, ["pausing", "paused"], timeout=60)["status"] == "pausing"
    refused = st2_stack.st2("execution", "resume", ex_id, check=False)
    assert refused.returncode != 0 and "pausing" in (refused.stdout + refused.stderr), refused
    assert st2_stack.wait_for_status(chain["id"], ["paused"], timeout=60)["status"] == "paused"
    assert st2_stack.wait_for_status(ex_id, ["paused"], timeout=60)["status"] == "paused"
    st2_stack.st2("execution", "resume", ex_id)
    done = st2_stack.wait_for_status(ex_id, ["succeeded", "failed"], timeout=90)
    assert done["status"] == "succeeded", done["result"]
    assert st2_stack.get(chain["id"])["status"] == "succeeded"
