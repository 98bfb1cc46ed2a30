"""Real StackStorm 3.9: workflows written for StackStorm's own mistral_v2 runner (pack
tests/fixtures/packs/compat_tests) run unchanged: conditional on-complete, reverse workflows with
`task_name`, ad-hoc actions based on StackStorm actions, a child workflow's context["mistral"]
after StackStorm's own (shallow) context merge, notify / skip_notify, st2.action refused; and a
StackStorm 3.2 install's st2.conf read by StackStorm 3.9's config loading."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
import requests
from result_shape import output_either, tasks_by_name

pytestmark = [pytest.mark.st2, pytest.mark.integration]

FINAL = ("succeeded", "failed", "canceled", "timeout", "abandoned")


def run(stack: Any, ref: str, **params: Any) -> Dict[str, Any]:
    resp = requests.post("%s/executions" % stack.api_url, headers=stack.headers(), timeout=30,
                         json={"action": ref, "parameters": params})
    assert resp.status_code == 201, resp.text
    return stack.wait_for_status(resp.json()["id"], FINAL, timeout=120)


def children_of(stack: Any, ex_id: str) -> List[Dict[str, Any]]:
    resp = requests.get("%s/executions" % stack.api_url, headers=stack.headers(), timeout=30,
                        params={"parent": ex_id})
    resp.raise_for_status()
    return resp.json()


def dump(doc: Dict[str, Any]) -> str:
    return json.dumps(doc.get("result"), indent=1)[:3000]


@pytest.mark.parametrize("x, branch", [(9, "big"), (2, "small")])
def test_conditional_on_complete(st2_stack, x, branch):
    doc = run(st2_stack, "compat_tests.cond", x=x)
    assert doc["status"] == "succeeded", dump(doc)
    assert output_either(doc["result"]) == {"said": "got %d" % x, "branch": branch}
    assert set(tasks_by_name(doc)) == {"first", branch}


def test_reverse_workflow_with_task_name_from_the_action(st2_stack):
    doc = run(st2_stack, "compat_tests.reverse", cmd="echo one")
    assert doc["status"] == "succeeded", dump(doc)
    assert output_either(doc["result"]) == {"stdout": "after one"}
    assert set(tasks_by_name(doc)) == {"task1", "task2"}


def test_reverse_workflow_task_name_given_at_run_time(st2_stack):
    doc = run(st2_stack, "compat_tests.reverse_any", cmd="echo two", task_name="task1")
    assert doc["status"] == "succeeded", dump(doc)
    assert set(tasks_by_name(doc)) == {"task1"}


def test_adhoc_actions_based_on_stackstorm_actions(st2_stack):
    doc = run(st2_stack, "compat_tests.book", word="hey")
    assert doc["status"] == "succeeded", dump(doc)
    assert output_either(doc["result"]) == {"shouted": "hey!", "fixed": "fixed"}
    cmds = sorted(c["parameters"]["cmd"] for c in children_of(st2_stack, doc["id"]))
    assert cmds == ["echo fixed", "echo hey!"]


def test_child_workflow_context_after_stackstorms_merge_and_notify(st2_stack):
    parent = run(st2_stack, "compat_tests.parent")
    assert parent["status"] == "succeeded", dump(parent)
    kids = {c["action"]["ref"] + ":" + str(c["parameters"].get("cmd")): c
            for c in children_of(st2_stack, parent["id"])}
    child = st2_stack.get(kids["compat_tests.child:None"]["id"])
    pm, cm = parent["context"]["mistral"], child["context"]["mistral"]
    assert cm["task_name"] == "call_child" and cm["task_execution_id"] and cm["action_execution_id"]
    assert cm["callback_url"] == "/v2/action_executions/%s" % cm["action_execution_id"]
    assert cm["parent"]["workflow_execution_id"] == pm["execution_id"]
    assert cm["parent"]["workflow_name"] == "compat_tests.parent"
    assert cm["workflow_name"] == "compat_tests.child" and cm["execution_id"] != pm["execution_id"]
    assert output_either(output_either(parent["result"])["child"]) == {"said": "child hi"}
    notify = {"on-complete": {"message": "done", "routes": ["slack"]}}
    loud = st2_stack.get(kids["core.local:echo loud"]["id"])
    quiet = st2_stack.get(kids["core.local:echo quiet"]["id"])
    assert loud["liveaction"].get("notify", {}).get("on-complete", {}).get("routes") == notify["on-complete"]["routes"]
    assert not (quiet["liveaction"].get("notify") or {}).get("on-complete")


def test_st2_action_refused_by_stackstorm_carries_the_http_response(st2_stack):
    doc = run(st2_stack, "compat_tests.bad_ref")
    assert doc["status"] == "failed", dump(doc)
    error = tasks_by_name(doc)["call"]["result"]
    assert error["status"] == 400, error
    assert "compat_tests.does_not_exist" in json.dumps(error["content"])
    assert error["url"].endswith("/executions")


# StackStorm's actionrunner reads /etc/st2/st2.conf with st2common.config.parse_args, then loads
# the runner; this script does the same in StackStorm 3.9's venv with a 3.2 install's st2.conf.
CONF_SCRIPT = """
import json, sys
from st2common import config as st2_config
st2_config.parse_args(args=["--config-file", sys.argv[1]])
from mistral_v2 import config, mistral_v2
opts = config.get()
runner = mistral_v2.get_runner()
print(json.dumps({"api_url": runner._api_urls()[0], "jitter_interval": opts.jitter_interval,
                  "retry_attempts": opts.retry_attempts, "retry_stop_max_msec": opts.retry_stop_max_msec,
                  "v2_base_url": opts.v2_base_url}))
"""


def test_st2_conf_of_a_3_2_install_read_by_stackstorm_3_9(st2_stack):
    conf = Path(__file__).resolve().parents[1] / "fixtures" / "st2-3.2.conf"
    out = subprocess.run([st2_stack.python, "-c", CONF_SCRIPT, str(conf)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "api_url": "http://127.0.0.1:9101/v1", "jitter_interval": 0.1, "retry_attempts": None,
        "retry_stop_max_msec": 600000, "v2_base_url": "http://127.0.0.1:8989/v2"}
