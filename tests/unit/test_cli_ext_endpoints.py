"""Unit tests of the /api/v1/mistral extension endpoints' logic (mistral_v2.extensions: tree, re-run check,
resume needs) on fakes, and of the local host's routes over it."""
from __future__ import annotations

import json
import time
from typing import Any, Dict, List

import pytest
from fake_mistral import MistralReads
from host_helpers import admin_login, start_host

from mistral_v2 import extensions as shared_ext
from mistral_v2 import resume_from_next, seam
from mistral_v2.exceptions import InvalidOperationError, InvalidParametersError, MissingRequirementsError, RerunError
from st2mistral_local import container as container_mod
from st2mistral_local import extensions, runners
from st2mistral_local.api import create_app

WF = """version: '2.0'
wf:
  tasks:
    t1:
      action: std.echo output=a
      publish:
        g: <% task().result %>
      on-success: [t2]
    t2:
      action: std.fail
      publish:
        r2: <% task().result %>
      on-success: [t3]
    t3:
      action: std.echo
      input:
        output: <% $.r2 %> <% $.g %>
    items:
      with-items: x in [1, 2]
      action: std.echo output=<% $.x %>
"""


class FakeAPI(MistralReads):
    """Read-only Mistral facade; any mutating call fails the test."""

    def add(self, ex_id: str, state: str, name: str = "wf") -> None:
        self.executions[ex_id] = {"id": ex_id, "state": state, "workflow_name": name, "params": json.dumps({"env": {}})}

    def task(self, ex_id: str, name: str, state: str, kind: str = "ACTION", **kw: Any) -> Dict[str, Any]:
        t = {"id": "%s-%s" % (ex_id, name), "name": name, "state": state, "type": kind, "workflow_name": "wf",
             "workflow_id": "wf", "workflow_execution_id": ex_id, "created_at": "2026-01-01 00:00:%02d"
             % len(self.tasks.get(ex_id, [])), "state_info": kw.pop("info", None), **kw}
        self.tasks.setdefault(ex_id, []).append(t)
        return t

    def list_task_action_executions(self, task_id: str) -> List[Dict[str, Any]]:
        return []

    def get_workflow(self, ref: str) -> Dict[str, Any]:
        return {"name": "wf", "definition": WF}

    def __getattr__(self, name: str) -> Any:  # update_execution, rerun_task, ... must never be called
        raise AssertionError("unexpected Mistral call %s" % name)


class FakeStore:
    def __init__(self, docs: List[Dict[str, Any]]) -> None:
        self.docs = {d["id"]: d for d in docs}

    def get_execution(self, ex_id: str) -> Dict[str, Any]:
        return self.docs.get(ex_id)

    def child_ids(self, ex_id: str) -> List[str]:
        return [d["id"] for d in self.docs.values() if d.get("parent") == ex_id]


def _doc(ex_id, ref, status, runner="mistral-v2", parent=None, mistral=None):
    return {"id": ex_id, "action": {"ref": ref}, "status": status, "runner": {"name": runner}, "parent": parent,
            "context": {"mistral": mistral or {}}}


def failed_api() -> FakeAPI:
    api = FakeAPI()
    api.add("m1", "ERROR")
    api.task("m1", "t1", "SUCCESS")
    api.task("m1", "t2", "ERROR", info="boom")
    api.task("m1", "items", "ERROR")
    return api


def test_tree_nests_subworkflows_and_st2_children_with_their_own_workflows():
    api = FakeAPI()
    api.add("m1", "SUCCESS", "p.wb.main")
    sub_task = api.task("m1", "outer", "SUCCESS", kind="WORKFLOW")
    call = api.task("m1", "call", "SUCCESS")
    api.add("m2", "SUCCESS", "p.wb.inner")
    api.subs[sub_task["id"]] = [api.executions["m2"]]
    api.task("m2", "deep", "SUCCESS")
    api.add("m3", "SUCCESS", "p.child")
    api.task("m3", "noop", "SUCCESS")
    store = FakeStore([
        _doc("e1", "p.wb", "succeeded", mistral={"execution_id": "m1"}),
        _doc("e2", "p.child", "succeeded", parent="e1",
             mistral={"task_execution_id": call["id"], "execution_id": "m3"}),
        _doc("e3", "core.local", "succeeded", runner="local-shell-cmd", parent="e2",
             mistral={"task_execution_id": "m3-noop"}),
    ])
    tree = shared_ext.execution_tree(api, store, store.docs["e1"])
    assert tree["id"] == "e1" and tree["workflow"]["workflow_name"] == "p.wb.main"
    outer, call_node = tree["workflow"]["tasks"]
    assert [w["workflow_name"] for w in outer["workflows"]] == ["p.wb.inner"]
    assert outer["workflows"][0]["tasks"][0]["name"] == "deep" and outer["executions"] == []
    child = call_node["executions"][0]
    assert child["id"] == "e2" and child["workflow"]["id"] == "m3"
    assert child["workflow"]["tasks"][0]["executions"][0]["id"] == "e3"


def test_tree_and_endpoints_refuse_non_workflow_or_unstarted_executions():
    with pytest.raises(InvalidOperationError, match="not a Mistral workflow"):
        shared_ext.mistral_execution_id(_doc("e", "core.local", "succeeded", runner="local-shell-cmd"))
    with pytest.raises(InvalidOperationError, match="has no Mistral workflow execution"):
        shared_ext.mistral_execution_id(_doc("e", "p.wf", "failed"))


def test_st2_child_resolver_maps_action_executions_at_any_depth():
    store = FakeStore([
        _doc("e1", "p.a", "failed", mistral={"execution_id": "m1"}),
        _doc("e2", "p.b", "failed", parent="e1", mistral={"action_execution_id": "a2", "execution_id": "m2"}),
        _doc("e3", "p.c", "failed", parent="e2", mistral={"action_execution_id": "a3", "execution_id": "m3"}),
    ])
    resolve = shared_ext.st2_child_resolver(store, "e1")
    assert (resolve("a2"), resolve("a3"), resolve("zz")) == ("m2", "m3", None)


def test_rerun_check_ok_and_refusals_change_nothing():
    api = failed_api()
    ok = shared_ext.rerun_check(api, "m1", ["t2"], None, None, None)
    assert ok["ok"] and ok["workflow_state"] == "ERROR" and ok["message"] == "Would re-run t2 (reset)."
    assert ok["tasks"][0]["task_ids"] == ["m1-t2"] and ok["tasks"][0]["with_items"] is False
    bad = shared_ext.rerun_check(api, "m1", ["t1", "nope"], None, None, None)
    assert not bad["ok"] and bad["problems"] == {"t1": "SUCCESS", "nope": "does not exist"}
    assert [t["state"] for t in bad["tasks"]] == ["SUCCESS", None]
    no_reset = shared_ext.rerun_check(api, "m1", ["t2"], None, ["t2"], None)
    assert not no_reset["ok"] and no_reset["problems"] == {"t2": "not with-items"}
    items = shared_ext.rerun_check(api, "m1", ["items"], None, ["items"], None)
    assert items["ok"] and items["tasks"][0]["with_items"] and "failed items only" in items["message"]
    stray = shared_ext.rerun_check(api, "m1", ["t2"], None, ["t9"], None)
    assert not stray["ok"] and stray["problems"] == {"t9": "not in --tasks"}
    api.executions["m1"]["state"] = "SUCCESS"
    done = shared_ext.rerun_check(api, "m1", ["t2"], None, None, None)
    assert not done["ok"] and done["problems"]["<workflow>"] == "SUCCESS"


def test_resume_requirements_lists_missing_variables_per_task():
    api = failed_api()
    assert resume_from_next.missing_variables(api, "m1", ["t2"], {}, None) == {"t2": ["r2"]}
    assert resume_from_next.missing_variables(api, "m1", ["t2"], {"t2": {"r2": 1}}, None) == {}
    with pytest.raises(RerunError, match="task 't1' is SUCCESS"):
        resume_from_next.missing_variables(api, "m1", ["t1"], {}, None)
    with pytest.raises(RerunError, match="no task names"):
        resume_from_next.missing_variables(api, "m1", [], {}, None)


def test_parse_published_spreads_bare_names_and_checks_task_names():
    assert shared_ext.parse_published(["a", "b"], {"x": 1, "b.y": 2}) == {"a": {"x": 1}, "b": {"x": 1, "y": 2}}
    with pytest.raises(InvalidParametersError, match='names task "c" which is not among --tasks'):
        shared_ext.parse_published(["a"], {"c.y": 1})


def test_resume_request_checks_the_body_and_builds_the_rerun_options():
    req = shared_ext.resume_request({"tasks": "t2, t3", "variables": {"x": 1, "t3.y": 2}, "context": {"k": 1}})
    assert req.tasks == ["t2", "t3"] and req.published == {"t2": {"x": 1}, "t3": {"x": 1, "y": 2}}
    assert req.rerun_options() == {"tasks": ["t2", "t3"], "reset": [], "next": True,
                                   "published": {"t2": {"x": 1}, "t3": {"x": 1, "y": 2}}, "context": {"k": 1}}
    bare = shared_ext.resume_request({"tasks": ["t2"], "published": {"t2": {}}})
    assert bare.rerun_options() == {"tasks": ["t2"], "reset": [], "next": True, "published": {}}
    for body, field in (({}, '"tasks"'), ({"tasks": [1]}, '"tasks"'),
                        ({"tasks": ["a"], "variables": [1]}, '"variables"'),
                        ({"tasks": ["a"], "published": {"a": 1}}, '"published"'),
                        ({"tasks": ["a"], "context": [1]}, '"context"')):
        with pytest.raises(InvalidParametersError, match=field):
            shared_ext.resume_request(body)


def test_check_resume_refuses_naming_the_missing_variables_per_task():
    api = failed_api()
    store = FakeStore([_doc("e1", "p.wf", "failed", mistral={"execution_id": "m1"})])
    with pytest.raises(MissingRequirementsError) as caught:
        shared_ext.check_resume(api, store, store.docs["e1"], shared_ext.resume_request({"tasks": ["t2"]}))
    assert shared_ext.refusal_body(caught.value) == {
        "faultstring": "Cannot resume from the next tasks: missing published variables: task 't2' needs r2.",
        "offenders": {"t2": "r2"}, "missing": {"t2": ["r2"]}}
    shared_ext.check_resume(api, store, store.docs["e1"],
                            shared_ext.resume_request({"tasks": ["t2"], "variables": {"r2": 1}}))


def test_secrets_of_an_execution_and_its_ancestors_are_masked():
    parent = _doc("e1", "p.wf", "running", mistral={"execution_id": "m1"})
    parent.update(parameters={"pw": "parent-secret"}, action={"ref": "p.wf", "parameters": {"pw": {"secret": True}}})
    child = _doc("e2", "p.sub", "running", parent="e1")
    child.update(parameters={"token_x": "child-secret", "plain": "visible"},
                 runner={"name": "mistral-v2", "runner_parameters": {"token_x": {"secret": True}}},
                 action={"ref": "p.sub", "parameters": {"plain": {"type": "string"}}})
    assert shared_ext.secret_names(child) == ["token_x"]
    mask = shared_ext.execution_masker(FakeStore([parent, child]), child, ["extra-known-value"])
    out = mask({"a": "got parent-secret and child-secret", "b": "visible", "c": "extra-known-value"})
    assert "parent-secret" not in out["a"] and "child-secret" not in out["a"]
    assert out["b"] == "visible" and out["c"] != "extra-known-value"


def test_start_recorded_and_start_failure():
    assert not shared_ext.start_recorded({"status": "running", "context": {}})
    assert shared_ext.start_recorded({"status": "running", "context": {"mistral": {"execution_id": "m"}}})
    assert shared_ext.start_recorded({"status": "failed", "context": {}})
    assert shared_ext.start_failure({"status": "failed", "result": {"error": "no"}}) == "no"
    assert shared_ext.start_failure({"status": "running"}) is None


# ---- the routes (Flask test client, fake Mistral API and a fake mistral-v2 runner) ----------------------

class FakeRunner(seam.AsyncActionRunner):
    """Stands in for mistral-v2: a start records Mistral execution m1; a re-run returns `rerun_answer`."""

    rerun_answer: Any = ("running", {}, {})
    rerun_delay = 0.0  # seconds a re-run's run() takes (the execution shows "running" meanwhile)
    contexts: List[Dict[str, Any]] = []

    def __init__(self) -> None:
        super().__init__("fake")

    def run(self, action_parameters):
        FakeRunner.contexts.append(self.context)
        if (self.context or {}).get("re-run"):
            time.sleep(FakeRunner.rerun_delay)
            return FakeRunner.rerun_answer
        return "running", {}, {"mistral": {"execution_id": "m1", "workflow_name": "wf"}}


@pytest.fixture
def app_client(tmp_path, monkeypatch):
    FakeRunner.contexts = []
    FakeRunner.rerun_answer = ("running", {}, {})
    FakeRunner.rerun_delay = 0.0
    real = runners.get_runner
    monkeypatch.setattr(container_mod, "get_runner", lambda n: FakeRunner() if n == "mistral-v2" else real(n))
    api = failed_api()
    monkeypatch.setattr(extensions, "_mistral_api", lambda: api)
    pack = tmp_path / "pack"
    (pack / "actions/workflows").mkdir(parents=True)
    (pack / "pack.yaml").write_text("ref: xp\n")
    (pack / "actions/wf.yaml").write_text("name: wf\nrunner_type: mistral-v2\nentry_point: workflows/wf.yaml\n"
                                          "parameters:\n  pw:\n    type: string\n    secret: true\n")
    (pack / "actions/workflows/wf.yaml").write_text(WF)
    h = start_host(tmp_path, pack)
    c = create_app(h).test_client()
    c.auth = {"X-Auth-Token": admin_login(c, h, {}).get_json()["token"]}
    ex = c.post("/api/v1/executions", headers=c.auth, json={"action": "xp.wf", "parameters": {"pw": "s3"}}).get_json()
    deadline = time.monotonic() + 10
    while "mistral" not in c.get("/api/v1/executions/" + ex["id"], headers=c.auth).get_json()["context"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    c.ex_id = ex["id"]
    yield c
    h.stop()


def test_resume_next_route_refuses_with_missing_then_starts_a_rerun_execution(app_client):
    c = app_client
    url = "/api/v1/mistral/executions/%s/resume_next" % c.ex_id
    resp = c.post(url, headers=c.auth, json={"tasks": ["t2"]})
    assert resp.status_code == 400
    assert resp.get_json()["missing"] == {"t2": ["r2"]} and "task 't2' needs r2" in resp.get_json()["faultstring"]
    assert len(FakeRunner.contexts) == 1  # nothing started
    resp = c.post(url, headers=c.auth, json={"tasks": ["t1"]})
    assert resp.status_code == 400 and resp.get_json()["offenders"] == {"t1": "SUCCESS"}
    resp = c.post(url, headers=c.auth, json={"tasks": ["t2"], "variables": {"r2": "v"}, "context": {"k": 1}})
    assert resp.status_code == 201, resp.get_json()
    new = resp.get_json()
    assert new["id"] != c.ex_id and new["status"] == "running"
    rerun_ctx = FakeRunner.contexts[-1]["re-run"]
    assert {k: rerun_ctx.get(k) for k in ("ref", "tasks", "next", "published", "context")} == {
        "ref": c.ex_id, "tasks": ["t2"], "next": True, "published": {"t2": {"r2": "v"}}, "context": {"k": 1}}
    assert new["parameters"]["pw"] == "********"
    FakeRunner.rerun_answer = ("failed", {"error": "Cannot resume: hook missing"}, {})
    FakeRunner.rerun_delay = 0.5  # the refusal comes back from run() well after "running" is stored
    resp = c.post(url, headers=c.auth, json={"tasks": ["t2"], "variables": {"t2.r2": "v"}})
    assert resp.status_code == 400 and resp.get_json()["faultstring"] == "Cannot resume: hook missing"
    assert c.post(url, headers=c.auth, json={}).status_code == 400


def test_rerun_check_and_context_routes(app_client):
    c = app_client
    check = c.post("/api/v1/mistral/executions/%s/rerun_check" % c.ex_id, headers=c.auth,
                   json={"tasks": ["t2", "t1"]}).get_json()
    assert check["ok"] is False and check["problems"] == {"t1": "SUCCESS"} and check["execution_id"] == c.ex_id
    view = c.get("/api/v1/mistral/executions/%s/tasks/t2/context" % c.ex_id, headers=c.auth)
    assert view.status_code == 200 and view.get_json()["state"] == "ERROR"
    missing = c.get("/api/v1/mistral/executions/%s/tasks/zz/context" % c.ex_id, headers=c.auth)
    assert missing.status_code == 404 and "does not exist" in missing.get_json()["faultstring"]
    nope = c.get("/api/v1/mistral/executions/000000000000000000000000/tree", headers=c.auth)
    assert nope.status_code == 404
    noop = c.post("/api/v1/executions", headers=c.auth, json={"action": "core.noop"}).get_json()
    resp = c.get("/api/v1/mistral/executions/%s/tree" % noop["id"], headers=c.auth)
    assert resp.status_code == 400 and "not a Mistral workflow" in resp.get_json()["faultstring"]
    assert c.get("/api/v1/mistral/executions/%s/tree" % c.ex_id).status_code == 401
    listed = c.get("/api/v1/mistral/extensions", headers=c.auth).get_json()
    assert listed["served_by"] == "st2mistral-local" and "executions/{id}/resume_next" in listed["routes"]


def test_tree_of_a_rerun_execution_includes_children_of_the_original():
    api = FakeAPI()
    api.add("m1", "SUCCESS")
    first = api.task("m1", "call", "SUCCESS")
    again = api.task("m1", "call2", "SUCCESS")
    old = _doc("e1", "p.wf", "failed", mistral={"execution_id": "m1"})
    new = _doc("e5", "p.wf", "succeeded", mistral={"execution_id": "m1"})
    new["context"]["re-run"] = {"ref": "e1", "tasks": ["x"]}
    store = FakeStore([old, new,
                       _doc("c1", "core.local", "succeeded", runner="local-shell-cmd", parent="e1",
                            mistral={"task_execution_id": first["id"]}),
                       _doc("c2", "core.local", "succeeded", runner="local-shell-cmd", parent="e5",
                            mistral={"task_execution_id": again["id"]})])
    tree = shared_ext.execution_tree(api, store, new)
    assert [[e["id"] for e in t["executions"]] for t in tree["workflow"]["tasks"]] == [["c1"], ["c2"]]
    assert [t["executions"] for t in shared_ext.execution_tree(api, store, old)["workflow"]["tasks"]][1] == []
