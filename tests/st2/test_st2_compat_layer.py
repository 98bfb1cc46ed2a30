"""The opt-in compat layer on real StackStorm 3.9: one command switches it, every StackStorm
process started afterwards has it, and orquesta/action-chain executions behave as stock."""
from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.st2, pytest.mark.integration]

PROBE = (
    "import json\n"
    "import st2common.constants.action as a\n"
    "import st2api.controllers.v1.actionexecutions as m\n"
    "print(json.dumps({'types': a.WORKFLOW_RUNNER_TYPES,\n"
    "                  'wrapped': hasattr(m.ActionExecutionReRunController.post, '__wrapped__')}))\n")


def _probe(stack) -> dict:
    """What a freshly started StackStorm process of the venv sees (as after `st2ctl restart`)."""
    out = subprocess.run([stack.python, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _compat(stack, command: str) -> str:
    out = subprocess.run([str(stack.dest / "venv/bin/st2-mistral-compat"), command], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_one_command_switches_it_for_every_new_stackstorm_process(st2_stack):
    assert _compat(st2_stack, "status").startswith("enabled")
    assert _probe(st2_stack) == {"types": ["action-chain", "orquesta", "mistral-v2"], "wrapped": True}
    try:
        assert "disabled" in _compat(st2_stack, "disable")
        assert _compat(st2_stack, "status").startswith("disabled")
        assert _probe(st2_stack) == {"types": ["action-chain", "orquesta"], "wrapped": False}  # stock 3.9
    finally:
        assert "enabled" in _compat(st2_stack, "enable")
    assert _probe(st2_stack)["types"] == ["action-chain", "orquesta", "mistral-v2"]
    # It is a file of ours in site-packages; no StackStorm file is changed.
    pth = Path(_compat(st2_stack, "status").split("(", 1)[1].rstrip(")\n"))
    assert pth.name == "st2mistral_compat.pth" and pth.parent.name == "site-packages"


def test_action_chain_pause_and_resume_behave_as_stock(st2_stack):
    ex_id = st2_stack.run_async("st2_only.chain_slow", "seconds=4")
    st2_stack.wait_for_status(ex_id, ["running"])
    st2_stack.st2("execution", "pause", ex_id)
    paused = st2_stack.wait_for_status(ex_id, ["paused"], timeout=60)
    assert [t["name"] for t in paused["result"]["tasks"]] == ["nap"]
    st2_stack.st2("execution", "resume", ex_id)
    done = st2_stack.wait_for_status(ex_id, ["succeeded", "failed"], timeout=60)
    assert done["status"] == "succeeded"
    assert [t["name"] for t in done["result"]["tasks"]] == ["nap", "say"]


def test_orquesta_run_and_rerun_tasks_behave_as_stock(st2_stack, tmp_path):
    marker = tmp_path / ("found-%s" % uuid.uuid4().hex)
    ex = st2_stack.run_cli("run", "st2_only.orq_fixable", "path=%s" % marker, check=False)
    assert ex["status"] == "failed"
    marker.write_text("x")
    rerun = st2_stack.run_cli("execution", "re-run", ex["id"], "--tasks", "check")
    done = st2_stack.wait_for_status(rerun["id"], ["succeeded", "failed"], timeout=90)
    assert done["status"] == "succeeded" and done["result"]["output"]["found"].strip() == "found"
    assert done["context"]["re-run"] == {"ref": ex["id"], "tasks": ["check"], "reset": ["check"]}  # CLI: reset=tasks
    # What st2 refuses for orquesta stays refused (the wrapper adds nothing for other runners).
    refused = st2_stack.st2("execution", "re-run", ex["id"], "path=/x", "--tasks", "check", check=False)
    assert refused.returncode != 0 and "Parameters override is not supported" in refused.stdout + refused.stderr


def test_tasks_option_stays_refused_for_runners_other_than_orquesta_and_mistral(st2_stack):
    ex = st2_stack.run_cli("run", "core.local", "cmd=false", check=False)
    assert ex["status"] == "failed"
    refused = st2_stack.st2("execution", "re-run", ex["id"], "--tasks", "x", check=False)
    assert refused.returncode != 0 and "only supported for Orquesta" in refused.stdout + refused.stderr
