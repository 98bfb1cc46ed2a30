"""StackStorm's own `examples` pack (3.2.0): every `mistral-*` workflow, unchanged, on the local host
+ real Mistral 23 + the st2mistral plugin; each asserts what the pack's action description and
the workflow say it does.

The pack is copied at test time from the shared StackStorm folder (env ST2MISTRAL_ST2_SRC, else
<repo>/../shared/stackstorm); it is not part of this repository. Actions whose runner the host
lacks are removed from the copy (the host refuses unknown runner types). Workflows that cannot run
here are listed in NOT_RUNNABLE / MISTRAL_23_DIFFERS / WAITING with the reason: they are not collected as tests.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
import requests
import yaml
from result_shape import failure_of, output_of, task_states

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PACK_NAME = "examples-3.2.0"


def examples_source() -> Path:
    """The shared copy of StackStorm's examples pack; a missing folder fails loudly."""
    base = Path(os.environ.get("ST2MISTRAL_ST2_SRC") or REPO.parent / "shared" / "stackstorm")
    src = base / PACK_NAME
    if not (src / "pack.yaml").is_file():
        pytest.fail("StackStorm's examples pack is missing: %s/pack.yaml not found (set ST2MISTRAL_ST2_SRC "
                    "to the folder holding %s)" % (src, PACK_NAME))
    return src


# Workflows that cannot run on the local host, and why (not collected).
NOT_RUNNABLE: Dict[str, str] = {
    "mistral-ask-basic": "core.ask needs StackStorm's inquirer runner and Inquiries API; the host has neither; "
                         "runs on real StackStorm (st2 tier)",
    "mistral-ask-parent": "runs examples.mistral-ask-basic (core.ask: inquirer runner, not on the host); runs "
                          "on real StackStorm (st2 tier)",
    "mistral-streaming-demo": "runs python-script, local-shell-script and remote-shell-* actions; the host "
                              "has local-shell-cmd, noop and mistral-v2 only; runs on real StackStorm (st2 "
                              "tier) up to its first remote-shell task",
    "mistral-workbook-multiple-subflows": "its last task runs examples.echochain (action-chain runner, not "
                                          "on the host); runs on real StackStorm (st2 tier)",
    "mistral-test-cancel-subworkflow-chain": "its child examples.chain-test-cancel is an action-chain (not on "
                                             "the host); runs on real StackStorm (st2 tier)",
    "mistral-test-pause-resume-subworkflow-chain": "its child examples.chain-test-pause-resume is an action-chain "
                                                   "(not on the host); runs on real StackStorm (st2 tier)",
}

# Workflows whose documented result Mistral 23 itself does not give (docs/operations.md; not collected).
MISTRAL_23_DIFFERS: Dict[str, str] = {
    "mistral-error-bad-with-items": "meant to fail (with-items over the string 'foobar', not a list); Mistral 23 "
                                    "iterates over the string's six characters and the workflow succeeds",
}

# Examples that run on the local host but not on real StackStorm 3.9 with this runner (st2 tier;
# not collected there).
ST2_DIFFERS: Dict[str, str] = {}

# Workflows that should run here once another part of issue 15 has landed (not collected).
WAITING: Dict[str, str] = {}


@dataclass
class Case:
    """How to run one example and what StackStorm documented for it."""
    params: Tuple[str, ...] = ()
    status: str = "succeeded"
    check: Callable[[Dict[str, Any], Any], None] = lambda doc, host: None
    drive: Optional[Callable[[Any, str, "Case"], Dict[str, Any]]] = None  # steps before the final status
    keys: Dict[str, str] = field(default_factory=dict)  # st2 keys set first (system scope)
    user_keys: Dict[str, str] = field(default_factory=dict)
    tempfile: Optional[str] = None  # content of a temp file passed as tempfile=<path>
    timeout: float = 120
    child_is_st2: bool = False  # the (paused/canceled) child is a StackStorm workflow execution
    rerun_task: str = ""
    no_reset: bool = False
    rerun_children: int = 0  # StackStorm executions the re-run starts (a with-items --no-reset: failed items only)
    tempfile_path: Optional[Path] = None  # set when the case runs
    stacks: Tuple[str, ...] = ("host", "st2")  # where it runs (NOT_RUNNABLE says why not on the host)


def _task(doc: Dict[str, Any], name: str) -> Dict[str, Any]:
    (task,) = [t for t in doc["result"]["tasks"] if t["name"] == name]
    return task


def _out(expected: Dict[str, Any]) -> Callable[[Dict[str, Any], Any], None]:
    def check(doc: Dict[str, Any], host: Any) -> None:
        assert output_of(doc["result"]) == expected
    return check


def _out_has(expected: Dict[str, Any], tasks: Optional[Dict[str, str]] = None) -> Callable[[Dict[str, Any], Any], None]:
    def check(doc: Dict[str, Any], host: Any) -> None:
        out = output_of(doc["result"])
        assert {k: out.get(k) for k in expected} == expected
        if tasks is not None:
            assert task_states(doc) == tasks
    return check


def _failed_mentioning(*words: str, tasks: Optional[Dict[str, str]] = None) -> Callable[[Dict[str, Any], Any], None]:
    def check(doc: Dict[str, Any], host: Any) -> None:
        why = failure_of(doc["result"])
        assert all(w in why for w in words), why
        if tasks is not None:
            assert task_states(doc) == tasks
    return check


# ---- driven scenarios (pause / resume / cancel / re-run) --------------------------------------


def _mistral_tasks(host: Any, ex_id: str) -> Dict[str, str]:
    """{task: state} of the Mistral execution of StackStorm execution `ex_id`, read from Mistral:
    StackStorm 3.9 keeps the result of a running/paused execution as it was at start."""
    deadline = time.monotonic() + 60
    while "execution_id" not in ((host.get(ex_id).get("context") or {}).get("mistral") or {}):
        assert time.monotonic() < deadline, "execution %s never got its Mistral execution" % ex_id
        time.sleep(0.2)
    mistral_id = host.get(ex_id)["context"]["mistral"]["execution_id"]
    resp = requests.get(host.mistral_url + "/tasks", params={"workflow_execution_id": mistral_id}, timeout=10)
    resp.raise_for_status()
    return {t["name"]: t["state"] for t in resp.json()["tasks"]}


def _wait_task(host: Any, ex_id: str, task: str, states: List[str]) -> None:
    deadline = time.monotonic() + 90
    while _mistral_tasks(host, ex_id).get(task) not in states:
        assert time.monotonic() < deadline, "task %s of %s never reached %s" % (task, ex_id, states)
        time.sleep(0.2)


def _wait_child(host: Any, ex_id: str, statuses: List[str]) -> Dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        children = host.children(ex_id)
        if children and children[0]["status"] in statuses:
            return children[0]
        time.sleep(0.2)
    raise AssertionError("no child of %s in %s: %s" % (ex_id, statuses, [c["status"] for c in host.children(ex_id)]))


def _workflow_child(host: Any, ex_id: str, statuses: List[str]) -> Dict[str, Any]:
    """The child StackStorm mistral-v2 workflow of `ex_id`, once in one of `statuses`."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = [c for c in host.children(ex_id) if c.get("runner", {}).get("name", c.get("runner_type")) ==
                 "mistral-v2" or c["action"]["ref"].startswith("examples.")]
        if found and found[0]["status"] in statuses:
            return found[0]
        time.sleep(0.2)
    raise AssertionError("no workflow child of %s reached %s" % (ex_id, statuses))


def drive_pause_resume(host: Any, ex_id: str, case: Case) -> Dict[str, Any]:
    """mistral-test-pause-resume: pause while task1 waits on the temp file -> pausing; the file goes
    -> paused (task2 not started); resume -> task2 echoes the message."""
    _wait_task(host, ex_id, "task1", ["RUNNING"])
    host.st2("execution", "pause", ex_id)
    assert host.wait(ex_id, ["pausing", "paused"])["status"] == "pausing"  # task1 still running
    os.remove(case.tempfile_path)
    host.wait(ex_id, ["paused"])
    assert _mistral_tasks(host, ex_id) == {"task1": "SUCCESS"}  # task2 not started while paused
    host.st2("execution", "resume", ex_id)
    return host.wait(ex_id, ["succeeded", "failed"])


def drive_pause_resume_child(host: Any, ex_id: str, case: Case) -> Dict[str, Any]:
    """...-subworkflow-action / -workbook: pause the parent while the (sub)workflow's task1 waits:
    parent and child pause (cascade down), resume the parent: everything completes."""
    child = None
    if case.child_is_st2:
        child = _wait_child(host, ex_id, ["running"])
        _wait_task(host, child["id"], "task1", ["RUNNING"])
    else:
        _wait_task(host, ex_id, "task1", ["RUNNING"])
    host.st2("execution", "pause", ex_id)
    assert host.wait(ex_id, ["pausing", "paused"])["status"] == "pausing"
    if child is not None:
        assert host.wait(child["id"], ["pausing", "paused"])["status"] == "pausing"
    os.remove(case.tempfile_path)
    host.wait(ex_id, ["paused"])
    if child is not None:
        assert host.wait(child["id"], ["paused"])["status"] == "paused"
    host.st2("execution", "resume", ex_id)
    doc = host.wait(ex_id, ["succeeded", "failed"])
    if child is not None:
        assert host.get(child["id"])["status"] == "succeeded"
    return doc


def drive_pause_before(host: Any, ex_id: str, case: Case) -> Dict[str, Any]:
    """mistral-test-pause-before-task*: the workflow pauses by itself before task2 (paused, not
    pausing); resume -> it completes."""
    doc = host.wait(ex_id, ["paused", "succeeded", "failed"], timeout=90)
    assert doc["status"] == "paused", doc["result"]
    if case.child_is_st2:
        child = _wait_child(host, ex_id, ["paused"])
        assert _mistral_tasks(host, child["id"]) == {"task1": "SUCCESS", "task2": "IDLE"}
    elif "task2" in _mistral_tasks(host, ex_id):
        assert _mistral_tasks(host, ex_id)["task2"] == "IDLE"
    host.st2("execution", "resume", ex_id)
    return host.wait(ex_id, ["succeeded", "failed"])


def drive_cancel(host: Any, ex_id: str, case: Case) -> Dict[str, Any]:
    """mistral-test-cancel: cancel while task1 waits -> canceling; task1 ends -> canceled, no task2."""
    _wait_task(host, ex_id, "task1", ["RUNNING"])
    host.st2("execution", "cancel", ex_id)
    assert host.wait(ex_id, ["canceling", "canceled"])["status"] == "canceling"
    os.remove(case.tempfile_path)
    return host.wait(ex_id, ["canceled", "succeeded", "failed"])


def drive_cancel_child(host: Any, ex_id: str, case: Case) -> Dict[str, Any]:
    """mistral-test-cancel-subworkflow-action: cancel the parent: the child workflow is canceled
    too (cascade down); both end canceled once the running command ends."""
    child = _wait_child(host, ex_id, ["running"])
    _wait_task(host, child["id"], "task1", ["RUNNING"])
    host.st2("execution", "cancel", ex_id)
    assert host.wait(child["id"], ["canceling", "canceled"])["status"] == "canceling"
    os.remove(case.tempfile_path)
    assert host.wait(child["id"], ["canceled", "succeeded", "failed"])["status"] == "canceled"
    return host.wait(ex_id, ["canceled", "succeeded", "failed"])


def _chain_tasks(host: Any, chain_id: str) -> Dict[str, str]:
    """{chain task name: status} of an action chain's child executions."""
    return {(c.get("context") or {}).get("chain", {}).get("name"): c["status"] for c in host.children(chain_id)}


def _running_chain(host: Any, ex_id: str) -> Dict[str, Any]:
    """The action-chain child of `ex_id` once its task1 (the command waiting on the temp file) runs."""
    chain = _wait_child(host, ex_id, ["running"])
    assert chain["action"]["ref"].startswith("examples.chain-test-"), chain["action"]["ref"]
    deadline = time.monotonic() + 90
    while _chain_tasks(host, chain["id"]).get("task1") != "running":
        assert time.monotonic() < deadline, "task1 of chain %s never ran" % chain["id"]
        time.sleep(0.2)
    return chain


def drive_pause_resume_chain(host: Any, ex_id: str, case: Case) -> Dict[str, Any]:
    """mistral-test-pause-resume-subworkflow-chain: pause the Mistral parent while the chain's task1
    waits: parent and chain go pausing, then paused once task1 ends (the chain's task2 not
    started); resume the parent: the chain runs task2 and both succeed."""
    chain = _running_chain(host, ex_id)
    host.st2("execution", "pause", ex_id)
    assert host.wait(ex_id, ["pausing", "paused"])["status"] == "pausing"
    assert host.wait(chain["id"], ["pausing", "paused"])["status"] == "pausing"
    os.remove(case.tempfile_path)
    assert host.wait(chain["id"], ["paused"])["status"] == "paused"
    assert host.wait(ex_id, ["paused"])["status"] == "paused"
    assert _chain_tasks(host, chain["id"]) == {"task1": "succeeded"}  # task2 not started while paused
    assert _mistral_tasks(host, ex_id) == {"task1": "PAUSED"}
    host.st2("execution", "resume", ex_id)
    assert host.wait(chain["id"], ["succeeded", "failed"])["status"] == "succeeded"
    doc = host.wait(ex_id, ["succeeded", "failed"])
    assert _chain_tasks(host, chain["id"]) == {"task1": "succeeded", "task2": "succeeded"}
    said = [c for c in host.children(chain["id"]) if c["context"]["chain"]["name"] == "task2"][0]
    assert said["result"]["stdout"] == "hello chain"
    return doc


def drive_cancel_chain(host: Any, ex_id: str, case: Case) -> Dict[str, Any]:
    """mistral-test-cancel-subworkflow-chain: cancel the Mistral parent while the chain's task1
    waits: parent and chain go canceling, then canceled once task1 ends; neither task2 runs."""
    chain = _running_chain(host, ex_id)
    host.st2("execution", "cancel", ex_id)
    assert host.wait(ex_id, ["canceling", "canceled"])["status"] == "canceling"
    assert host.wait(chain["id"], ["canceling", "canceled"])["status"] == "canceling"
    os.remove(case.tempfile_path)
    assert host.wait(chain["id"], ["canceled", "succeeded", "failed"])["status"] == "canceled"
    doc = host.wait(ex_id, ["canceled", "succeeded", "failed"])
    assert _chain_tasks(host, chain["id"]) == {"task1": "succeeded"}  # the chain's task2 never ran
    return doc


def drive_rerun(host: Any, ex_id: str, case: Case) -> Dict[str, Any]:
    """mistral-test-rerun*: fails while the temp file holds 1; after writing 0, re-running the
    failed task (dotted in the subworkflow, failed items only for with-items) succeeds, starting
    only the StackStorm executions of what ran again (--no-reset: the 2 failed items of 4)."""
    doc = host.wait(ex_id, ["failed", "succeeded"])
    assert doc["status"] == "failed", doc["result"]
    Path(case.tempfile_path).write_text("0")
    args = ["execution", "re-run", ex_id, "--tasks", case.rerun_task]
    if case.no_reset:
        args += ["--no-reset", case.rerun_task]
    out = host.st2(*args, "-a").stdout
    new_id = [w for w in out.split() if len(w) == 24 and w != ex_id][0]
    new = host.wait(new_id, ["succeeded", "failed"])
    assert new["context"]["mistral"]["execution_id"] == doc["context"]["mistral"]["execution_id"]
    assert len(host.children(new_id)) == case.rerun_children, [c["action"]["ref"] for c in host.children(new_id)]
    return new


def _inquiry(host: Any, ex_id: str) -> Dict[str, Any]:
    """The pending core.ask execution below `ex_id` (any depth), once there."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        todo, found = [ex_id], []
        while todo:
            for child in host.children(todo.pop()):
                todo.append(child["id"])
                if child["action"]["ref"] == "core.ask" and child["status"] == "pending":
                    found.append(child)
        if found:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.2)
    raise AssertionError("no pending core.ask below %s" % ex_id)


def drive_inquiry(host: Any, ex_id: str, case: Case) -> Dict[str, Any]:
    """mistral-ask-basic / -parent, with what StackStorm's own Mistral inquiry test asserted
    (st2tests packs/tests/actions/chains/test_inquiry_mistral.yaml, 2017-2020): the workflow is
    `paused` while the inquiry waits (a nested workflow too, every level), `st2 inquiry list/get`
    show it, a response the schema refuses is refused and leaves the workflow paused, a valid one
    resumes it (task1 SUCCESS with the response, task2 echoes it, the workflow succeeds), and a
    second response is refused."""
    assert host.wait(ex_id, ["paused", "succeeded", "failed"])["status"] == "paused"
    inquiry = _inquiry(host, ex_id)
    nested = [c for c in host.children(ex_id) if c["action"]["ref"] == "examples.mistral-ask-basic"]
    if case.child_is_st2:
        assert [c["status"] for c in nested] == ["paused"]
    listed = json.loads(host.st2("inquiry", "list", "-j").stdout)
    assert [i["id"] for i in listed] == [inquiry["id"]]
    got = json.loads(host.st2("inquiry", "get", inquiry["id"], "-j").stdout)
    assert got["route"] == "developers"
    assert got["schema"]["properties"]["secondfactor"]["type"] == "string"
    refused = host.st2("inquiry", "respond", "-r", '{"secondfactor": 123}', inquiry["id"], check=False)
    assert refused.returncode != 0, refused.stdout
    assert "schema" in (refused.stdout + refused.stderr), refused.stdout + refused.stderr
    assert host.get(inquiry["id"])["status"] == "pending"
    assert host.get(ex_id)["status"] == "paused"
    host.st2("inquiry", "respond", "-r", '{"secondfactor": "bar"}', inquiry["id"])
    doc = host.wait(ex_id, ["succeeded", "failed", "canceled"])
    answered = host.get(inquiry["id"])
    assert answered["status"] == "succeeded" and answered["result"]["response"] == {"secondfactor": "bar"}
    again = host.st2("inquiry", "respond", "-r", '{"secondfactor": "bar"}', inquiry["id"], check=False)
    assert again.returncode != 0, again.stdout
    basic = host.get(nested[0]["id"]) if case.child_is_st2 else doc
    assert basic["status"] == "succeeded", basic["result"]
    assert task_states(basic) == {"task1": "SUCCESS", "task2": "SUCCESS"}
    assert _task(basic, "task1")["result"]["response"] == {"secondfactor": "bar"}
    assert _task(basic, "task2")["result"]["stdout"] == "We can now authenticate to 'foo' service with bar"
    return doc


def _streaming_demo(doc: Dict[str, Any], host: Any) -> None:
    """mistral-streaming-demo on real StackStorm (st2box: no SSH): its local-shell-cmd,
    local-shell-script and python-script tasks run and give their output to Mistral; task8, the
    first remote-shell-cmd task, fails (st2box has no SSH key for the system user), so the
    workflow fails there, as it would on any StackStorm without SSH set up."""
    tasks = task_states(doc)
    assert tasks == {**{"task%d" % i: "SUCCESS" for i in range(1, 8)}, "task8": "ERROR"}, tasks
    for i in (1, 3, 5, 7):
        assert _task(doc, "task%d" % i)["result"]["stdout"] == "Task %d" % i
    # local-shell-cmd: the example's command uses bash's `$[...]`, which a dash /bin/sh (Debian,
    # Ubuntu) leaves unexpanded: the first line is printed as written and the loop stops.
    first = _task(doc, "task2")["result"]["stderr"].splitlines()[0]
    assert first in ("stderr line 1", "stderr line $[0+1]"), _task(doc, "task2")["result"]
    script = _task(doc, "task4")["result"]  # local-shell-script (bash script)
    assert (script["stdout"], script["stderr"]) == ("stdout line 2\nstdout line 4",
                                                    "stderr line 1\nstderr line 3"), script
    python = _task(doc, "task6")["result"]  # python-script
    assert python["exit_code"] == 0, python
    assert python["stdout"].splitlines() == ["stdout -> Line: 2", "stdout -> Line: 4"], python
    assert [line for line in python["stderr"].splitlines() if "-> Line" in line] == [
        "stderr -> Line: 1", "stderr -> Line: 3"], python
    assert "Unable to connect to any one of the hosts" in _task(doc, "task8")["state_info"]
    (remote,) = [c for c in host.children(doc["id"]) if c["action"]["ref"].startswith("examples.remote_")]
    assert remote["status"] == "failed", remote["status"]


def _env_check(jinja: bool) -> Callable[[Dict[str, Any], Any], None]:
    def check(doc: Dict[str, Any], host: Any) -> None:
        out = output_of(doc["result"])
        assert out["url"] == "http://127.0.0.1:9101/executions/%s" % doc["id"]
        assert out["env"]["st2_execution_id"] == doc["id"]
        st2_context = out["env"]["__actions"]["st2.action"]["st2_context"]
        assert st2_context["parent"]["execution_id"] == doc["id"]
        assert "auth_token" not in st2_context or st2_context["auth_token"] == "********"
    return check


def _task2_said(text: str) -> Callable[[Dict[str, Any], Any], None]:
    def check(doc: Dict[str, Any], host: Any) -> None:
        assert _task(doc, "task2")["result"]["stdout"] == text, doc["result"]
    return check


def _only_tasks(expected: Dict[str, str]) -> Callable[[Dict[str, Any], Any], None]:
    def check(doc: Dict[str, Any], host: Any) -> None:
        assert task_states(doc) == expected
    return check


def _both(expected: Any) -> Callable[[Dict[str, Any], Any], None]:
    return _out({"result_jinja": expected, "result_yaql": expected})


# st2's marker for "pass None" (use_none), rendered to None only in StackStorm action parameters.
NONE_MAGIC = "%*****__%NONE%__*****%"


def _handle_error(doc: Dict[str, Any], host: Any) -> None:
    assert task_states(doc) == {"task1": "ERROR", "handle_error": "SUCCESS"}
    assert "foobar" in _task(doc, "handle_error")["result"]["stdout"]  # task1's stderr, printed


def _with_items_concurrency(doc: Dict[str, Any], host: Any) -> None:
    assert output_of(doc["result"])["result"] == ["x"] * 4
    assert len(host.children(doc["id"])) == 4  # one core.local per item


CASES: Dict[str, Case] = {
    "mistral-basic": Case(("cmd=echo hello",), check=_out({"stdout": "hello"})),
    "mistral-basic-two-tasks-with-notifications": Case(check=lambda doc, host: (
        task_states(doc) == {"task1": "SUCCESS", "task2": "SUCCESS"} or pytest.fail(str(task_states(doc))),
        output_of(doc["result"])["stdout"] in ("task1", "task2") or pytest.fail(str(doc["result"])))),
    "mistral-branching": Case(("which=b",), check=_out_has(
        {"path": "b", "stdout": "Took path B."}, {"t1": "SUCCESS", "b": "SUCCESS"})),
    "mistral-jinja-branching": Case(("which=c",), check=_out_has(
        {"path": "c"}, {"t1": "SUCCESS", "c": "SUCCESS"})),
    "mistral-env-var": Case(check=_env_check(False)),
    "mistral-jinja-env-var": Case(check=_env_check(True)),
    "mistral-handle-error": Case(status="failed", check=_handle_error),
    "mistral-handle-error-task-default": Case(status="failed", check=lambda doc, host: (
        task_states(doc) == {"task1": "ERROR", "handle_error": "SUCCESS"} or pytest.fail(str(task_states(doc))))),
    "mistral-handle-retry": Case(timeout=180, check=lambda doc, host: (
        task_states(doc) == {"init": "SUCCESS", "create-file": "SUCCESS", "test-error-undo-retry": "SUCCESS",
                            "delete-file": "SUCCESS"} or pytest.fail(str(task_states(doc))))),
    "mistral-join": Case(check=lambda doc, host: (
        task_states(doc) == {n: "SUCCESS" for n in "abcde"} or pytest.fail(str(task_states(doc))),
        len(doc["result"]["tasks"]) == 5 or pytest.fail("e ran more than once"))),
    "mistral-repeat": Case(("cmd=echo hi", "count=3"), check=_out_has({"result": ["hi", "hi", "hi"]})),
    "mistral-repeat-with-items": Case(("cmds=echo a,echo b,echo c",), check=_out_has({"result": ["a", "b", "c"]})),
    "mistral-jinja-repeat-with-items": Case(("cmds=echo a,echo b",), check=_out_has({"result": ["a", "b"]})),
    "mistral-with-items-concurrency": Case(("cmd=echo x", "count=4"), check=_with_items_concurrency),
    "mistral-reverse-basic": Case(("cmd=echo rev",), check=_out({"stdout": "rev"})),
    "mistral-reverse-requires": Case(("question=What is the answer?",), check=lambda doc, host: (
        output_of(doc["result"]) == {"answer": 42} or pytest.fail(str(doc["result"])),
        task_states(doc) == {n: "SUCCESS" for n in "abcde"} or pytest.fail(str(task_states(doc))))),
    "mistral-workbook-basic": Case(("cmd=echo wb",), check=_out({"stdout": "wb"})),
    "mistral-workbook-complex": Case(("vm_name=vm1",), check=_out({"vm_id": "vm1234", "ip": "10.1.23.99"})),
    "mistral-jinja-workbook-complex": Case(("vm_name=vm1",), check=_out({"vm_id": "vm6789", "ip": "10.1.23.98"})),
    "mistral-workbook-multiple-subflows": Case(stacks=("st2",), check=_out(
        {"report": "task1 ok", "state": "external workflow ok"})),
    "mistral-ask-basic": Case(stacks=("st2",), drive=drive_inquiry,
                              check=_out({"result": {"secondfactor": "bar"}})),
    "mistral-ask-parent": Case(stacks=("st2",), drive=drive_inquiry, child_is_st2=True,
                               check=_out({"result": {"secondfactor": "bar"}})),
    "mistral-streaming-demo": Case(("count=4", "sleep_delay=0.1"), stacks=("st2",), status="failed", timeout=240,
                                   check=_streaming_demo),
    "mistral-workbook-subflows": Case(check=_out({"tagline": "StackStorm is awesome!"})),
    "mistral-yaql-st2kv-system-scope": Case(keys={"foobar": "foobar"}, check=_out_has({"foobar": "foobar"})),
    "mistral-yaql-st2kv-user-scope": Case(user_keys={"marco": "polo"}, check=_out_has({"polo": "polo"})),
    "mistral-jinja-st2kv-system-scope": Case(keys={"foobar": "foobar"}, check=_out_has({"foobar": "foobar"})),
    "mistral-jinja-st2kv-system-scope-encrypted": Case(keys={"foobar!": "foobar"},
                                                       check=_out_has({"foobar": "foobar"})),
    # Errors: the workflow fails with a message naming the problem.
    "mistral-error-bad-action": Case(status="failed", check=_failed_mentioning("core.foobar")),
    "mistral-error-bad-task-transition": Case(status="failed", check=_failed_mentioning("task3")),
    "mistral-error-bad-wf-arg": Case(status="failed", check=_failed_mentioning("var1")),
    "mistral-test-yaql-bad-expr": Case(status="failed", check=_failed_mentioning("IDontExist")),
    "mistral-test-yaql-bad-publish": Case(status="failed", check=_failed_mentioning("IDontExist")),
    "mistral-test-yaql-bad-subworkflow-input": Case(status="failed", check=_failed_mentioning("foobar")),
    "mistral-test-yaql-bad-task-transition": Case(status="failed", check=_failed_mentioning("foobar")),
    "mistral-test-yaql-bad-with-items": Case(status="failed", check=_failed_mentioning("foobar")),
    "mistral-test-jinja-bad-expr": Case(status="failed", check=_failed_mentioning("IDontExist")),
    "mistral-test-jinja-bad-publish": Case(status="failed", check=_failed_mentioning("IDontExist")),
    "mistral-test-jinja-bad-subworkflow-input": Case(status="failed", check=_failed_mentioning("foobar")),
    "mistral-test-jinja-bad-task-transition": Case(status="failed", check=_failed_mentioning("foobar")),
    "mistral-test-jinja-bad-with-items": Case(status="failed", check=_failed_mentioning("foobar")),
    # Pause / resume / cancel / re-run.
    "mistral-test-pause-resume": Case(("message=hello pause",), tempfile="", drive=drive_pause_resume,
                                      check=_task2_said("hello pause")),
    "mistral-test-pause-resume-subworkflow-action": Case(("message=hello child",), tempfile="", child_is_st2=True,
                                                         drive=drive_pause_resume_child,
                                                         check=_task2_said("hello child")),
    "mistral-test-pause-resume-subworkflow-workbook": Case(("message=hello wb",), tempfile="",
                                                           drive=drive_pause_resume_child,
                                                           check=_task2_said("hello wb")),
    "mistral-test-pause-before-task": Case(("message=before",), drive=drive_pause_before,
                                           check=_task2_said("before")),
    "mistral-test-pause-before-task-subworkflow-action": Case(("message=before child",), child_is_st2=True,
                                                              drive=drive_pause_before,
                                                              check=_task2_said("before child")),
    "mistral-test-pause-before-task-subworkflow-workbook": Case(("message=before wb",), drive=drive_pause_before,
                                                                check=_task2_said("before wb")),
    "mistral-test-cancel": Case(("message=never said",), tempfile="", status="canceled", drive=drive_cancel,
                                check=_only_tasks({"task1": "SUCCESS"})),
    "mistral-test-cancel-subworkflow-action": Case(("message=never said",), tempfile="", status="canceled",
                                                   drive=drive_cancel_child,
                                                   check=_only_tasks({"task1": "CANCELLED"})),
    "mistral-test-pause-resume-subworkflow-chain": Case(("message=hello chain",), tempfile="", stacks=("st2",),
                                                        drive=drive_pause_resume_chain,
                                                        check=_task2_said("hello chain")),
    "mistral-test-cancel-subworkflow-chain": Case(("message=never said",), tempfile="", status="canceled",
                                                  stacks=("st2",), drive=drive_cancel_chain,
                                                  check=_only_tasks({"task1": "CANCELLED"})),
    "mistral-test-rerun": Case(tempfile="1", drive=drive_rerun, rerun_task="task1", rerun_children=1,
                               check=_only_tasks({"task1": "SUCCESS"})),
    "mistral-test-rerun-subflow": Case(tempfile="1", drive=drive_rerun, rerun_task="task1.task1", rerun_children=1,
                                       check=_only_tasks({"task1": "SUCCESS"})),
    "mistral-test-rerun-with-items": Case(tempfile="1", drive=drive_rerun, rerun_task="task1", no_reset=True,
                                          rerun_children=2, check=_only_tasks({"task1": "SUCCESS"})),
    "mistral-test-rerun-subflow-with-items": Case(tempfile="1", drive=drive_rerun, rerun_task="task1.task1",
                                                  no_reset=True, rerun_children=2,
                                                  check=_only_tasks({"task1": "SUCCESS"})),
    # st2mistral's expression functions, each in Jinja and YAQL (same answer expected from both).
    **{name: Case(params, check=_both(expected)) for name, params, expected in [
        ("mistral-test-func-from-json-string", ('input_str={"a": 1, "b": [1, 2]}',), {"a": 1, "b": [1, 2]}),
        ("mistral-test-func-from-yaml-string", ("input_str={a: 1, b: [x, y]}",), {"a": 1, "b": ["x", "y"]}),
        ("mistral-test-func-json-escape", ('input_str=He said "hi"',), '[{"title": "He said \\"hi\\""}]'),
        ("mistral-test-func-jsonpath-query",
         ('input_obj={"people": [{"first": "James"}, {"first": "Jacob"}]}', "input_query=people[*].first"),
         ["James", "Jacob"]),
        ("mistral-test-func-regex-match", ("input_str=v1.2.3", r"regex_pattern=^v(\d+)"), True),
        ("mistral-test-func-regex-replace", ("input_str=Hello World", "regex_pattern=o", "replacement_str=0"),
         "Hell0 W0rld"),
        ("mistral-test-func-regex-search", ("input_str=build 123 ok", r"regex_pattern=\d+"), True),
        ("mistral-test-func-to-complex", ('input_obj={"a": 1}',), '{"a": 1}'),
        ("mistral-test-func-to-human-time-from-seconds", ("seconds=4587",), "1h16m27s"),
        # st2mistral's to_json_string: indent 4, separators ',' and ':'
        ("mistral-test-func-to-json-string", ('input_obj={"a": 1, "b": [1, 2]}',),
         json.dumps({"a": 1, "b": [1, 2]}, indent=4, separators=(",", ":"))),
        ("mistral-test-func-to-yaml-string", ('input_obj={"a": 1}',), "a: 1\n"),
        ("mistral-test-func-version-bump-major", ("version=0.10.1",), "1.0.0"),
        ("mistral-test-func-version-bump-minor", ("version=0.10.1",), "0.11.0"),
        ("mistral-test-func-version-bump-patch", ("version=0.10.1",), "0.10.2"),
        ("mistral-test-func-version-strip-patch", ("version=0.10.1",), "0.10"),
        ("mistral-test-func-version-compare", ("version_a=0.10.0", "version_b=0.9.0"), 1),
        ("mistral-test-func-version-equal", ("version_a=0.9.0", "version_b=0.9.0"), True),
        ("mistral-test-func-version-less-than", ("version_a=0.9.0", "version_b=0.10.0"), True),
        ("mistral-test-func-version-more-than", ("version_a=0.10.0", "version_b=0.9.0"), True),
        ("mistral-test-func-version-match", ("version_a=0.10.1", "version_b=>0.10.0"), True),
    ]},
    "mistral-test-func-regex-substring": Case(
        ("input_str=v1.2.3 and v4.5.6", r"regex_pattern=v\d\.\d\.\d"),
        check=_out({"result_jinja": "v1.2.3", "result_yaql": "v1.2.3",
                    "result_jinja_index_1": "v4.5.6", "result_yaql_index_1": "v4.5.6"})),
    "mistral-test-func-use-none": Case(("input_str=kept",), check=_out({
        "none_result_jinja": NONE_MAGIC, "none_result_yaql": NONE_MAGIC,
        "str_result_jinja": "kept", "str_result_yaql": "kept"})),
}


def _mistral_actions(pack: Path) -> Dict[str, str]:
    """name -> runner type of every action of the pack whose name starts with `mistral`."""
    found = {}
    for path in sorted((pack / "actions").glob("*.yaml")):
        meta = yaml.safe_load(path.read_text()) or {}
        if str(meta.get("name", "")).startswith("mistral"):
            found[meta["name"]] = meta.get("runner_type")
    return found


def test_every_mistral_example_is_run_or_listed_with_a_reason():
    """The tables cover the pack exactly on the host: nothing is silently left out."""
    workflows = {n for n, runner in _mistral_actions(examples_source()).items() if runner == "mistral-v2"}
    host_cases = {n for n, c in CASES.items() if "host" in c.stacks}
    listed = host_cases | set(NOT_RUNNABLE) | set(WAITING) | set(MISTRAL_23_DIFFERS)
    assert workflows - listed == set(), "examples not in any table"
    assert listed - workflows == set(), "tables name examples the pack does not have"
    tables = [host_cases, set(NOT_RUNNABLE), set(WAITING), set(MISTRAL_23_DIFFERS)]
    assert sum(len(t) for t in tables) == len(listed), "an example is in two tables"


def _copy_pack(root: Path, keep_runner: Callable[[Optional[str]], bool]) -> Path:
    """A copy of the examples pack in root/examples: its actions (those of runners `keep_runner`
    accepts) and their entry points; rules, aliases, sensors and triggers are left out."""
    pack = root / "examples"
    src = examples_source()
    skipped = {str(src / d) for d in ("rules", "aliases", "sensors", "triggers", "tests")}
    shutil.copytree(src, pack, ignore=lambda folder, names: [n for n in names
                                                             if os.path.join(folder, n) in skipped])
    for path in list((pack / "actions").glob("*.yaml")):
        meta = yaml.safe_load(path.read_text()) or {}
        if not keep_runner(meta.get("runner_type")):
            path.unlink()
    return pack


@pytest.fixture(scope="module")
def examples_host(st2_host, tmp_path_factory) -> Any:
    """A host (the session host class, session Mistral) serving a copy of the examples pack with
    the actions of runners the host lacks removed."""
    from st2mistral_local.runners import runner_types

    root = tmp_path_factory.mktemp("examples_pack")
    known = runner_types()
    pack = _copy_pack(root, lambda runner: runner in known)
    home = root / "home"
    home.mkdir()
    (home / "st2.conf").write_text("[cli]\ncache_token = False\n")
    (root / "state").mkdir()
    host = type(st2_host)(root / "state", pack, st2_host.mistral_url, home)
    host.start()
    host.api_key = host.create_api_key()
    yield host
    host.stop()


class St2Driver:
    """The calls the cases make (as on the local host's St2Host), on a real StackStorm 3.9 stack."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.mistral_url = stack.mistral_url

    def st2(self, *args: str, check: bool = True) -> Any:
        return self.stack.st2(*args, check=check)

    def run_async(self, ref: str, *params: str) -> str:
        out = self.stack.st2("run", "-a", ref, *params).stdout
        found = [w for w in out.replace('"', " ").split() if len(w) == 24 and all(c in "0123456789abcdef" for c in w)]
        assert found, out
        return found[0]

    def get(self, ex_id: str) -> Dict[str, Any]:
        return self.stack.get(ex_id)

    def children(self, ex_id: str) -> List[Dict[str, Any]]:
        return [self.get(c) for c in self.get(ex_id).get("children") or []]

    def wait(self, ex_id: str, statuses: Any, timeout: float = 90) -> Dict[str, Any]:
        return self.stack.wait_for_status(ex_id, statuses, timeout=timeout)


@pytest.fixture(scope="module")
def examples_st2(mistral_server, tmp_path_factory) -> Any:
    """Real StackStorm 3.9 (the st2 tier's St2Stack, its own box) with a copy of the examples pack
    (every action but the winrm ones: st2box has the other runners) and an st2mistral-sync service."""
    from stacks.real_st2 import St2Stack, StackError
    from stacks.sync_service import SyncService, new_group

    root = tmp_path_factory.mktemp("examples_st2")
    pack = _copy_pack(root, lambda runner: not str(runner).startswith("winrm-"))  # st2box has no winrm runners
    try:
        stack = St2Stack.start(mistral_server.url, root / "stack", extra_packs=[pack])
    except StackError as exc:
        pytest.fail("real StackStorm could not be started: %s" % exc)
    sync = SyncService(stack, "examples", new_group())
    try:
        sync.start()
        yield St2Driver(stack)
    finally:
        sync.stop()
        stack.stop()


def _params() -> List[Any]:
    params = [pytest.param("host", name, id="host-" + name) for name in sorted(CASES)
              if "host" in CASES[name].stacks]
    params += [pytest.param("st2", name, id="st2-" + name, marks=pytest.mark.st2)
               for name in sorted(CASES) if "st2" in CASES[name].stacks and name not in ST2_DIFFERS]
    return params


@pytest.mark.parametrize("stack, name", _params())
def test_example(request, tmp_path, stack, name):
    case = CASES[name]
    host = request.getfixturevalue("examples_host" if stack == "host" else "examples_st2")
    for key, value in case.keys.items():
        if key.endswith("!"):
            host.st2("key", "set", key[:-1], value, "--encrypt")
        else:
            host.st2("key", "set", key, value)
    for key, value in case.user_keys.items():
        host.st2("key", "set", key, value, "--scope", "user")
    params = list(case.params)
    if case.tempfile is not None:
        case.tempfile_path = tmp_path / "tempfile"
        case.tempfile_path.write_text(case.tempfile)
        params.append("tempfile=%s" % case.tempfile_path)
    ex_id = host.run_async("examples." + name, *params)
    if case.drive is not None:
        doc = case.drive(host, ex_id, case)
    else:
        doc = host.wait(ex_id, ["succeeded", "failed", "canceled", "timeout", "abandoned"], timeout=case.timeout)
    assert doc["status"] == case.status, (doc["status"], doc.get("result"))
    if "extra" in doc["result"]:  # else refused at start: {"error", "error_type"}, nothing in Mistral
        assert doc["result"]["extra"]["state"] == {"succeeded": "SUCCESS", "failed": "ERROR",
                                                  "canceled": "CANCELLED"}[case.status]
    else:
        assert case.status == "failed" and doc["result"]["error"], doc["result"]
    case.check(doc, host)
