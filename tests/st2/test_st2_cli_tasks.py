"""The stock `st2` CLI (st2client 3.9.0) on an action chain with a mistral-v2 child that runs
StackStorm tasks, on real StackStorm 3.9: alone it crashes on the Mistral task (it reads task names
only from action-chain and orquesta contexts); with the compat layer's client patch loaded as its
.pth loads it, it lists the Mistral task by name (StackStorm 3.2's `st2 run examples.mistral_examples`
self-check relies on this output)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.st2, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
# What the compat .pth runs (st2mistral_compat.cli.PTH_LINE), then the st2 CLI's own entry point.
WITH_COMPAT = ("import sys; sys.path.insert(0, %r); "
               "import importlib.util as _u; _u.find_spec('st2mistral_compat') and "
               "__import__('st2mistral_compat.hook').hook.install(); "
               "from st2client.shell import main; sys.argv[0] = 'st2'; sys.exit(main(sys.argv[1:]))"
               % str(REPO / "contrib"))


def _st2_with_compat(stack, *args: str) -> subprocess.CompletedProcess:
    python = str(Path(stack.st2_bin).parent / "python")
    return subprocess.run([python, "-c", WITH_COMPAT, *args], capture_output=True, text=True, env=stack.env,
                          timeout=120)


def test_st2_cli_lists_the_tasks_of_a_mistral_child_by_name(st2_stack):
    ex_id = st2_stack.run_async("st2_only.chain_of_mistral_tasks", "word=cli")
    done = st2_stack.wait_for_status(ex_id, ["succeeded", "failed"], timeout=120)
    assert done["status"] == "succeeded", done["result"]

    stock = st2_stack.st2("execution", "get", ex_id, check=False)
    assert stock.returncode != 0 and "task_name_key" in stock.stdout + stock.stderr  # st2client 3.9 alone

    fixed = _st2_with_compat(st2_stack, "execution", "get", ex_id, "-j")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    shown = _st2_with_compat(st2_stack, "execution", "get", ex_id)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    rows = [line for line in shown.stdout.splitlines() if "|" in line]
    assert any("run_mistral" in r and "compat_tests.child" in r for r in rows), shown.stdout
    assert any("say" in r and "core.local" in r for r in rows), shown.stdout  # the Mistral task, by name
