"""Secrets are masked by the plugin BEFORE they leave a real Mistral 23: by key and by value,
also inside longer strings and under keys that do not look secret (issue 17)."""
from __future__ import annotations

import json
import uuid

import pytest
from result_shape import output_of
from test_plugin_mistral import TOKEN, FakeSt2, client, fake_st2, finished, st2_env, start, unique, wait_until  # noqa: F401

pytestmark = pytest.mark.integration

SECRET = "Hush-" + uuid.uuid4().hex[:10]


def test_plugin_masks_secret_values_and_token_in_pushed_results(client, fake_st2):  # noqa: F811
    fake_st2.outcomes["core.local"] = lambda p, n: ("SUCCESS", {"stdout": "ran " + p.get("cmd", "")})
    name = unique("leaky")
    definition = """
version: '2.0'
%s:
  input:
    - db_password
  tasks:
    echo:
      action: std.echo
      input:
        output:
          note: "connecting with <%% $.db_password %%> now"
          header: "X-Auth-Token: <%% env().get('__actions').get('st2.action').st2_context.auth_token %%>"
      publish:
        copied: <%% task().result.note %%>
      on-success: child
    child:
      action: st2.action
      input:
        ref: core.local
        parameters:
          cmd: echo <%% $.db_password %%>
  output:
    plain: <%% $.db_password %%>
    copied: <%% $.copied %%>
""" % name
    st2_id = "st2-" + uuid.uuid4().hex[:8]
    env = st2_env(fake_st2, st2_id)
    env["__actions"]["st2.action"]["st2_context"]["secret_parameters"] = ["db_password"]
    ex = start(client, definition, env, {"db_password": SECRET})
    final = finished(client, ex.id)
    assert final.state == "SUCCESS", final.state_info
    # The child really got the secret (StackStorm needs it to run the command) ...
    assert [c["parameters"]["cmd"] for c in fake_st2.children.values()] == ["echo " + SECRET]
    # ... but nothing Mistral pushed as a result carries it, nor the token.
    last = wait_until("the final push", lambda: [b for b in fake_st2.puts_for(st2_id)
                                                 if b["status"] == "succeeded"])[-1]
    pushed = json.dumps(fake_st2.puts)
    assert SECRET not in pushed and TOKEN not in pushed
    assert output_of(last["result"]) == {"plain": "********", "copied": "connecting with ******** now"}
    tasks = {t["name"]: t for t in last["result"]["tasks"]}
    assert tasks["echo"]["result"] == {"note": "connecting with ******** now",
                                       "header": "X-Auth-Token: ********"}
    assert tasks["child"]["result"] == {"stdout": "ran echo ********"}


def test_plugin_deletes_the_token_from_mistral_db_once_stackstorm_has_the_final_status(client, fake_st2,  # noqa: F811
                                                                                       mistral_server):
    from pathlib import Path

    from test_security_grep import _tables_with

    name = unique("scrub")
    definition = """
version: '2.0'
%s:
  tasks:
    child:
      action: st2.action
      input:
        ref: core.noop
""" % name
    st2_id = "st2-" + uuid.uuid4().hex[:8]
    token = "tok-" + uuid.uuid4().hex
    env = st2_env(fake_st2, st2_id)
    env["__actions"]["st2.action"]["st2_context"]["auth_token"] = token
    ex = start(client, definition, env)
    wait_until("the final push", lambda: [b for b in fake_st2.puts_for(st2_id) if b["status"] == "succeeded"])
    assert all(h.get("X-Auth-Token") == token for h in fake_st2.headers if "X-Auth-Token" in h)

    def scrubbed():
        ctx = json.loads(client.executions.get(ex.id).params)["env"]["__actions"]["st2.action"]["st2_context"]
        actions = [client.action_executions.get(a.id) for t in client.tasks.list(workflow_execution_id=ex.id)
                   for a in client.action_executions.list(task_execution_id=t.id)]
        inputs = [json.loads(a.input).get("st2_context") or {} for a in actions]
        return "auth_token" not in ctx and inputs and all("auth_token" not in i for i in inputs)

    wait_until("the token to leave Mistral's env and st2.action inputs", scrubbed)
    db = Path(mistral_server.run_dir) / "mistral.db"
    if db.exists():  # embedded Mistral: nothing anywhere in its database holds the token
        assert _tables_with(db, token) == {}
