"""The README demo: drive the real `st2` CLI through run, pause, resume, a failure and a re-run."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from typing import Any, Dict, List

WORKFLOW = "mistral_examples.demo"
FINAL = {"succeeded", "failed", "canceled", "timeout", "abandoned"}


def say(text: str) -> None:
    print("\n== %s" % text, flush=True)


def st2(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["st2", *args]
    print("   $ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.exit("st2 %s failed (%d):\n%s%s" % (args[0], proc.returncode, proc.stdout, proc.stderr))
    return proc


def st2_json(*args: str) -> Any:
    return json.loads(st2(*args, "--json").stdout)


def started_id(proc: subprocess.CompletedProcess) -> str:
    """The execution id that `st2 run -a` / `st2 execution re-run` print."""
    found = re.search(r"st2 execution get ([0-9a-f]{24})", proc.stdout)
    if not found:
        sys.exit("no execution id in st2's output:\n%s" % proc.stdout)
    return found.group(1)


def tree(execution_id: str) -> str:
    return subprocess.run(["st2-mistral", "tree", execution_id], capture_output=True, text=True).stdout


def mistral_id(execution_id: str) -> str:
    """The root Mistral execution id, as the `st2-mistral tree` view shows it."""
    found = re.search(r"\(mistral ([0-9a-f-]{36})\)", tree(execution_id))
    return found.group(1) if found else "?"


def get(execution_id: str) -> Dict[str, Any]:
    return st2_json("execution", "get", execution_id)


def watch(execution_id: str, until: set, timeout: float = 90.0) -> Dict[str, Any]:
    """Print each status change of the execution until it reaches one of `until`."""
    seen = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = subprocess.run(
            ["st2", "execution", "get", execution_id, "--json"], capture_output=True, text=True
        )
        ex = json.loads(proc.stdout) if proc.returncode == 0 else {}
        status = ex.get("status")
        if status != seen:
            print("   status: %s" % status, flush=True)
            seen = status
        if status in until:
            return ex
        time.sleep(0.3)
    sys.exit("timed out waiting for %s to reach %s (last: %s)" % (execution_id, until, seen))


def task_states(ex: Dict[str, Any]) -> List[str]:
    return ["%s=%s" % (t["name"], t["state"]) for t in (ex.get("result") or {}).get("tasks", [])]


def main() -> int:
    say("1. The key-value pair the workflow's check_ready task reads is not set yet")
    st2("key", "delete", "demo_ready", check=False)

    say("2. Run %s (StackStorm actions inside a Mistral workflow)" % WORKFLOW)
    ex_id = started_id(st2("run", "-a", WORKFLOW, "who=demo-user", "sleep_seconds=6"))
    print("   StackStorm execution: %s" % ex_id)
    watch(ex_id, {"running"})
    time.sleep(2)

    say("3. Pause it while slow_work runs: pausing until the running task finishes, then paused")
    st2("execution", "pause", ex_id)
    ex = watch(ex_id, {"paused"} | FINAL)
    print("   tasks: %s" % ", ".join(task_states(ex)))

    say("4. Resume it: the workflow continues and check_ready fails (demo_ready is not set)")
    st2("execution", "resume", ex_id)
    ex = watch(ex_id, FINAL)
    failed = [t for t in ex["result"].get("tasks", []) if t["state"] == "ERROR"]
    for task in failed:
        print("   failed task %s: %s" % (task["name"], (task.get("state_info") or "")[:160]))

    say("5. Fix the cause outside the workflow, then re-run only the failed task")
    st2("key", "set", "demo_ready", "yes")
    new_id = started_id(st2("execution", "re-run", ex_id, "--tasks", "check_ready", "-a"))
    print("   new StackStorm execution %s; Mistral execution %s -> %s (re-used)"
          % (new_id, mistral_id(ex_id), mistral_id(new_id)))
    ex = watch(new_id, FINAL)
    output = {k: v for k, v in (ex.get("result") or {}).items() if k not in ("extra", "tasks")}
    print("   output: %s" % json.dumps(output))

    say("6. The task tree of the re-run execution")
    print(tree(new_id))
    return 0 if ex["status"] == "succeeded" else 1


if __name__ == "__main__":
    if not os.environ.get("ST2_API_URL"):
        sys.exit("run through scripts/demo, which brings up the local host and exports ST2_*")
    sys.exit(main())
