"""Real StackStorm 3.9: StackStorm's own runner registration accepts mistral-v2, and a workflow runs."""
from __future__ import annotations

import json
import subprocess

import pytest

pytestmark = [pytest.mark.st2, pytest.mark.integration]

# Runners StackStorm 3.9 ships (contrib/runners); all must stay registered next to ours.
STOCK_RUNNERS = {"local-shell-cmd", "local-shell-script", "remote-shell-cmd", "remote-shell-script",
                 "python-script", "action-chain", "orquesta", "noop", "http-request", "announcement",
                 "inquirer"}


def test_register_runners_registers_mistral_v2_and_every_stock_runner(st2_stack):
    # The box runs st2's register_runners(fail_on_failure=True) at start: it is up, so it did not raise.
    names = {r["name"] for r in st2_stack.run_cli("runner", "list")}
    assert "mistral-v2" in names
    assert STOCK_RUNNERS <= names, STOCK_RUNNERS - names
    runner = st2_stack.run_cli("runner", "get", "mistral-v2")
    assert runner["enabled"] is True and runner["runner_module"] == "mistral_v2"
    assert set(runner["runner_parameters"]) >= {"context", "skip_notify", "task_name", "task", "workflow"}
    assert runner["output_schema"]["type"] == "object"


def test_runner_type_api_validates_get_metadata_in_stackstorms_venv(st2_stack):
    """get_metadata() is one dict that st2's RunnerTypeAPI validates, once register_runner dropped
    its non-model keys (aliases, experimental) as StackStorm does."""
    script = (
        "import json\n"
        "from mistral_v2 import mistral_v2\n"
        "from st2common.models.api.action import RunnerTypeAPI\n"
        "meta = mistral_v2.get_metadata()\n"
        "entry = {k: v for k, v in meta.items() if k not in ('aliases', 'experimental')}\n"
        "api = RunnerTypeAPI(**entry).validate()\n"
        "print(json.dumps({'type': type(meta).__name__, 'name': api.name}))\n")
    out = subprocess.run([st2_stack.python, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"type": "dict", "name": "mistral-v2"}


def test_a_workflow_runs_to_succeeded_with_the_stock_cli(st2_stack):
    ex = st2_stack.run_cli("run", "mistral_tests.sequential", "who=st2")
    assert ex["status"] == "succeeded", json.dumps(ex, indent=1)[:3000]
    doc = st2_stack.get(ex["id"])
    assert doc["runner"]["name"] == "mistral-v2" and doc["context"]["mistral"]["execution_id"]
    assert "Hello, st2!" in json.dumps(doc["result"])
