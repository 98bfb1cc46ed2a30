"""Real StackStorm 3.9 with the compat layer: the `st2-mistral` CLI (tree, context, rerun-check,
resume-next) against st2api's st2-mistral routes, checked with the stock `st2` CLI; StackStorm's
authentication on those routes; and the CLI's message on a StackStorm without them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional

import pytest
import requests

pytestmark = [pytest.mark.st2, pytest.mark.integration]

SECRET = "hunter2-s3cr3t-value"


def st2_mistral(stack: Any, *args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """The project's `st2-mistral` CLI with the box's st2 CLI environment (its API URL and credentials)."""
    exe = os.path.join(os.path.dirname(sys.executable), "st2-mistral")
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env or stack.env, timeout=180)


def st2_get(stack: Any, ex_id: str) -> Dict[str, Any]:
    """`st2 execution get <id> --attr all -j` (the stock CLI; every attribute, context included)."""
    return stack.run_cli("execution", "get", ex_id, "--attr", "all")


def executions_of(stack: Any, ref: str) -> List[str]:
    resp = requests.get("%s/executions" % stack.api_url, headers=stack.headers(), timeout=30,
                        params={"action": ref, "limit": 100})
    resp.raise_for_status()
    return sorted(d["id"] for d in resp.json())


@pytest.fixture(scope="module")
def failed(st2_stack) -> Dict[str, Any]:
    """A failed st2_ext.failing execution (t1 ok publishing g, t2 failed), started with the stock CLI."""
    ex_id = st2_stack.run_async("st2_ext.failing", "password=%s" % SECRET)
    doc = st2_stack.wait_for_status(ex_id, ["succeeded", "failed"], timeout=120)
    assert doc["status"] == "failed", doc["result"]
    return doc


def test_tree_of_a_workbook_with_subworkflow_and_child_stackstorm_actions(st2_stack):
    ex_id = st2_stack.run_async("st2_ext.nested")
    doc = st2_stack.wait_for_status(ex_id, ["succeeded", "failed"], timeout=180)
    assert doc["status"] == "succeeded", doc["result"]
    proc = st2_mistral(st2_stack, "tree", ex_id)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "st2_ext.nested succeeded (%s)" % ex_id
    for shown in ("workflow st2_ext.nested.main [SUCCESS]", "outer [SUCCESS]", "workflow st2_ext.nested.inner "
                  "[SUCCESS]", "deep [SUCCESS]", "call_st2 [SUCCESS]", "core.local succeeded", "child_wf [SUCCESS]",
                  "st2_ext.child succeeded", "workflow st2_ext.child [SUCCESS]", "noop [SUCCESS]"):
        assert shown in proc.stdout, proc.stdout

    def depth(part: str) -> int:
        line = next(ln for ln in lines if part in ln)
        return len(line) - len(line.lstrip("│├└─ "))
    assert depth("outer [") < depth("workflow st2_ext.nested.inner") < depth("deep [")
    assert depth("child_wf [") < depth("st2_ext.child succeeded") < depth("workflow st2_ext.child") < depth("noop [")
    tree = json.loads(st2_mistral(st2_stack, "--json", "tree", ex_id).stdout)
    tasks = {t["name"]: t for t in tree["workflow"]["tasks"]}
    assert tree["workflow"]["id"] == doc["context"]["mistral"]["execution_id"]
    # The StackStorm children the tree shows are the ones StackStorm's API lists for the execution.
    resp = requests.get("%s/executions" % st2_stack.api_url, headers=st2_stack.headers(), timeout=30,
                        params={"parent": ex_id})
    resp.raise_for_status()
    children = {c["action"]["ref"]: c["id"] for c in resp.json()}
    assert len(children) == len(resp.json()) == 2
    shell, child = tasks["call_st2"]["executions"][0], tasks["child_wf"]["executions"][0]
    assert (shell["action"], shell["id"]) == ("core.local", children["core.local"])
    assert (child["action"], child["id"]) == ("st2_ext.child", children["st2_ext.child"])
    assert child["workflow"]["id"] == st2_get(st2_stack, child["id"])["context"]["mistral"]["execution_id"]
    assert child["workflow"]["tasks"][0]["name"] == "noop"
    # Dotted task names reach a subworkflow's task and a task of the child StackStorm workflow
    # (found through StackStorm's own parent/child links).
    for dotted, workflow in (("outer.deep", tasks["outer"]["workflows"][0]), ("child_wf.noop", child["workflow"])):
        proc = st2_mistral(st2_stack, "--json", "context", ex_id, dotted)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        view = json.loads(proc.stdout)
        assert (view["state"], view["workflow_execution_id"]) == ("SUCCESS", workflow["id"]), view


def test_context_of_a_task_with_secrets_masked(st2_stack, failed):
    proc = st2_mistral(st2_stack, "context", failed["id"], "t2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("task t2 [ERROR]") and "g: hello" in proc.stdout, proc.stdout
    view = json.loads(st2_mistral(st2_stack, "--json", "context", failed["id"], "t2").stdout)
    assert view["workflow_execution_id"] == failed["context"]["mistral"]["execution_id"]
    assert view["published"]["g"] == "hello" and view["input"]["password"] == "********"
    assert SECRET not in proc.stdout + json.dumps(view)
    unknown = st2_mistral(st2_stack, "context", failed["id"], "zzz")
    assert unknown.returncode == 1 and "HTTP 404" in unknown.stderr and "zzz" in unknown.stderr


def test_rerun_check_ok_and_refused(st2_stack, failed):
    refused = st2_mistral(st2_stack, "rerun-check", failed["id"], "--tasks", "t1", "t2")
    assert refused.returncode == 1 and refused.stdout.startswith("REFUSED"), refused.stdout + refused.stderr
    assert "t1: SUCCESS" in refused.stdout
    ok = st2_mistral(st2_stack, "rerun-check", failed["id"], "--tasks", "t2")
    assert ok.returncode == 0 and ok.stdout.startswith("OK"), ok.stdout + ok.stderr
    no_reset = st2_mistral(st2_stack, "rerun-check", failed["id"], "--tasks", "t2", "--no-reset", "t2")
    assert no_reset.returncode == 1 and "not a with-items task" in no_reset.stdout
    assert st2_get(st2_stack, failed["id"])["status"] == "failed"  # a check changes nothing


def test_resume_next_refused_then_accepted_reuses_the_mistral_execution(st2_stack, failed):
    before = executions_of(st2_stack, "st2_ext.failing")
    refused = st2_mistral(st2_stack, "resume-next", failed["id"], "--tasks", "t2")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "Missing requirements:" in refused.stdout and "t2: r2" in refused.stdout
    body = json.loads(st2_mistral(st2_stack, "--json", "resume-next", failed["id"], "--tasks", "t2").stdout)
    assert body["missing"] == {"t2": ["r2"]} and "task 't2' needs r2" in body["faultstring"]
    assert executions_of(st2_stack, "st2_ext.failing") == before  # refused synchronously: nothing created

    resumed = st2_mistral(st2_stack, "resume-next", failed["id"], "--tasks", "t2", "-p", "r2=supplied")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    new_id = resumed.stdout.split("st2 execution get ")[1].split()[0]
    assert set(executions_of(st2_stack, "st2_ext.failing")) - set(before) == {new_id}
    st2_stack.wait_for_status(new_id, ["succeeded", "failed"], timeout=120)
    new = st2_get(st2_stack, new_id)
    assert new["status"] == "succeeded", new["result"]
    assert new["result"]["tail"] == "supplied hello"  # t3 saw the supplied r2 and t1's published g
    assert new["context"]["re-run"] == {"ref": failed["id"], "tasks": ["t2"], "reset": [], "next": True,
                                        "published": {"t2": {"r2": "supplied"}}}
    assert new["context"]["mistral"]["execution_id"] == failed["context"]["mistral"]["execution_id"]
    assert new["parameters"]["password"] == "********"
    tree = st2_mistral(st2_stack, "tree", new_id).stdout
    assert "t1 [SUCCESS]" in tree and "t3 [SUCCESS]" in tree, tree
    # The Mistral execution has completed: resuming the original again is refused before anything is made.
    after = executions_of(st2_stack, "st2_ext.failing")
    again = st2_mistral(st2_stack, "resume-next", failed["id"], "--tasks", "t2", "-p", "r2=again")
    assert again.returncode == 1 and "SUCCESS" in again.stdout, again.stdout + again.stderr
    assert executions_of(st2_stack, "st2_ext.failing") == after


def test_routes_require_stackstorm_authentication(st2_stack, failed):
    url = "%s/mistral/executions/%s/tree" % (st2_stack.api_url, failed["id"])
    assert requests.get(url, timeout=30).status_code == 401
    assert requests.get(url, headers={"St2-Api-Key": "not-a-key"}, timeout=30).status_code == 401
    assert requests.post(url.replace("/tree", "/resume_next"), json={"tasks": ["t2"], "variables": {"r2": "x"}},
                         timeout=30).status_code == 401
    assert requests.get(url, headers=st2_stack.headers(), timeout=30).status_code == 200
    token = requests.get(url, headers={"X-Auth-Token": st2_stack.env["ST2_AUTH_TOKEN"]}, timeout=30)
    assert token.status_code == 200
    env = {k: v for k, v in st2_stack.env.items() if k not in ("ST2_API_KEY", "ST2_AUTH_TOKEN")}
    anonymous = st2_mistral(st2_stack, "tree", failed["id"], env=env)
    assert anonymous.returncode == 1 and "HTTP 401" in anonymous.stderr, anonymous.stdout + anonymous.stderr
    missing = requests.get(url.replace(failed["id"], "0" * 24), headers=st2_stack.headers(), timeout=30)
    assert missing.status_code == 404


def test_without_the_compat_layer_the_cli_says_what_to_do(st2_stack, tmp_path):
    from stacks.real_st2 import St2Stack, compat

    served = requests.get(st2_stack.api_url + "/mistral/extensions", headers=st2_stack.headers(), timeout=30)
    assert served.status_code == 200 and served.json()["served_by"] == "st2api (st2mistral-compat)"
    # A second StackStorm started from the same venv with the compat layer off: stock st2api.
    state = tmp_path / "stock"
    state.mkdir()
    stock = St2Stack(st2_stack.src, st2_stack.dest, state, st2_stack.mistral_url)
    assert compat(st2_stack.dest, "disable", st2_stack.setup_log).startswith("disabled")
    try:
        try:
            stock.up([])
        finally:
            assert compat(st2_stack.dest, "enable", st2_stack.setup_log).startswith("enabled")
        noop = stock.run_cli("run", "core.noop")
        assert noop["status"] == "succeeded"
        proc = st2_mistral(stock, "tree", noop["id"])
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "does not serve the st2-mistral routes" in proc.stderr, proc.stderr
        assert "st2-mistral-compat enable" in proc.stderr and stock.api_url in proc.stderr
        absent = requests.get(stock.api_url + "/mistral/extensions", headers=stock.headers(), timeout=30)
        assert absent.status_code == 404
    finally:
        stock.stop()
