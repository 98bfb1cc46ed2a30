"""The real `st2` CLI against the local host and real Mistral: actions, runs, executions, re-run."""
from __future__ import annotations

import pytest
from result_shape import output_of

pytestmark = pytest.mark.integration


def test_action_list_and_get(st2_host):
    refs = {a["ref"] for a in st2_host.st2_json("action", "list")}
    assert {"core.local", "core.echo", "core.noop", "hosttest.slow", "hosttest.with_child"} <= refs
    action = st2_host.st2_json("action", "get", "hosttest.slow")
    assert action["runner_type"] == "mistral-v2" and action["entry_point"] == "workflows/slow.yaml"
    assert action["parameters"]["password"]["secret"] is True
    table = st2_host.st2("action", "list", "--pack", "hosttest").stdout
    assert "hosttest.slow" in table and "core.local" not in table
    missing = st2_host.st2("action", "get", "hosttest.nope", check=False)
    assert missing.returncode != 0 and "hosttest.nope" in missing.stdout + missing.stderr


def test_run_shell_command_waits_for_the_result(st2_host):
    doc = st2_host.st2_json("run", "core.local", "cmd=echo hi from $USER_X; echo oops >&2", "env={\"USER_X\": \"cli\"}")
    assert doc["status"] == "succeeded"
    assert doc["result"]["stdout"] == "hi from cli" and doc["result"]["stderr"] == "oops"
    text = st2_host.st2("run", "core.echo", "message=hello world").stdout
    assert "succeeded" in text and "hello world" in text


def test_run_workflow_async_then_get_and_list(st2_host):
    ex_id = st2_host.run_async("hosttest.slow", "seconds=1", "password=hunter2")
    doc = st2_host.wait(ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded"
    got = st2_host.st2_json("execution", "get", ex_id)
    assert output_of(got["result"]) == {"said": "slept 1"}
    assert [t["name"] for t in sorted(got["result"]["tasks"], key=lambda t: t["created_at"])][:1] == ["first"]
    assert got["parameters"]["password"] == "********"
    listed = st2_host.st2_json("execution", "list", "--action", "hosttest.slow", "-n", "50")
    assert ex_id in [e["id"] for e in listed]
    text = st2_host.st2("execution", "get", ex_id).stdout
    assert "hunter2" not in text and "succeeded" in text


def test_run_workflow_synchronously(st2_host):
    doc = st2_host.st2_json("run", "hosttest.slow", "seconds=0")
    assert doc["status"] == "succeeded" and output_of(doc["result"]) == {"said": "slept 0"}


def test_bad_parameters_are_refused_with_a_clear_message(st2_host):
    before = len(st2_host.st2_json("execution", "list", "-n", "1000"))
    proc = st2_host.st2("run", "hosttest.with_child", check=False)
    assert proc.returncode != 0
    assert 'required parameter "word" is missing' in proc.stdout + proc.stderr
    proc = st2_host.st2("run", "core.local", "cmd=true", "bogus=1", check=False)
    assert proc.returncode != 0 and '"bogus"' in proc.stdout + proc.stderr
    assert len(st2_host.st2_json("execution", "list", "-n", "1000")) == before


def test_rerun_from_the_start_with_overridden_parameters(st2_host):
    first = st2_host.st2_json("run", "core.local", "cmd=echo first")
    again = st2_host.st2_json("execution", "re-run", first["id"], "cmd=echo second")
    assert again["id"] != first["id"]
    assert again["status"] == "succeeded" and again["result"]["stdout"] == "second"
    detail = st2_host.get(again["id"])
    assert detail["context"]["re-run"] == {"ref": first["id"]}
