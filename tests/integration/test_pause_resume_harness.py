"""Shared pieces of the pause/resume/cancel integration tests (no tests here).

`MiniHost` is an in-process stand-in for the StackStorm side: it implements
`cascade.St2Executions` over real `MistralRunner` objects driving the real Mistral, applies
StackStorm's request rules (`cascade.check_request`), reconciles statuses with the querier,
reports finished children to their parent's Mistral action execution (the callback) and, like
the host must, cascades a child's pause UP with `cascade.pause_up`.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, Iterable, List, Optional

import pytest
from runner_wiring import action_metadata, mistral_options, wire_runner

from mistral_v2 import cascade, mistral_v2, query, statuses
from mistral_v2.callback import MistralCallbackHandler
from mistral_v2.statuses import St2

PACK_DIR = os.path.join(os.path.dirname(__file__), "..", "fixtures", "packs", "pause_examples")
HANG_GUARD = 90.0  # seconds; a stuck test fails instead of blocking (never a timing assertion)


@pytest.fixture(scope="module")
def mistral(mistral_server):
    """`[mistral]` pointed at the session's Mistral; polling mode, quick retries."""
    with mistral_options(v2_base_url=mistral_server.url, api_url="http://127.0.0.1:9/api/v1",
                         enable_polling=True, retry_exp_msec=100, jitter_interval=0.05):
        yield mistral_server


@pytest.fixture
def host(mistral, mistral_client):
    api = mistral_v2.shared_api(mistral.url)
    return MiniHost(api, mistral_client)


def make_runner(action: str, context: Dict[str, Any]) -> mistral_v2.MistralRunner:
    """A runner wired the way the host wires it, for an action of pack `pause_examples`."""
    meta, params_meta, runner_params = action_metadata(PACK_DIR, action)
    return wire_runner("pause_examples", action, meta["entry_point"],
                       os.path.join(PACK_DIR, "actions", meta["entry_point"]), context, runner_params, params_meta)


class MiniHost:
    """StackStorm executions held in memory; implements cascade.St2Executions."""

    def __init__(self, api: Any, client: Any) -> None:
        self.api = api
        self.client = client
        self.querier = query.MistralResultsQuerier(api=api)
        self.docs: Dict[str, Dict[str, Any]] = {}
        self.runners: Dict[str, mistral_v2.MistralRunner] = {}
        self.results: Dict[str, Dict[str, Any]] = {}
        self.requests: List[tuple] = []
        self.reported: set = set()

    # -- starting executions ---------------------------------------------------------------------

    def start(self, action: str, params: Optional[Dict[str, Any]] = None, parent: Optional[str] = None,
              parent_task: Optional[str] = None) -> str:
        """Start `action`; with `parent`, as the child run by `parent_task` (its async action)."""
        context: Dict[str, Any] = {"user": "stanley"}
        callback: Dict[str, Any] = {}
        if parent:
            ae_id = self.action_execution_of(self.mistral_id(parent), parent_task)
            context["parent"] = {"execution_id": parent, "user": "stanley"}
            context["mistral"] = {"action_execution_id": ae_id, "task_name": parent_task}
            callback = {"source": "mistral_v2", "url": "%s/action_executions/%s" % (self.api.url, ae_id)}
        runner = make_runner(action, context)
        runner.liveaction.callback = callback
        runner.st2_executions = self
        status, result, ctx = runner.run(params or {})
        assert status == "running", result
        runner.liveaction.context = runner.context = ctx
        self.runners[runner.execution_id] = runner
        self.docs[runner.execution_id] = {
            "id": runner.execution_id, "status": status, "parent": parent, "context": ctx,
            "runner": {"name": "mistral-v2"}, "action": {"ref": runner.action.ref}, "callback": callback}
        return runner.execution_id

    # -- cascade.St2Executions ----------------------------------------------------------------------

    def get_execution(self, execution_id: str) -> Dict[str, Any]:
        return dict(self.docs[execution_id])

    def list_children(self, execution_id: str) -> List[Dict[str, Any]]:
        return [dict(d) for d in self.docs.values() if d["parent"] == execution_id]

    def _operate(self, execution_id: str, verb: str, transitional: str) -> str:
        doc = self.docs[execution_id]
        self.requests.append((verb, execution_id))
        if not cascade.check_request(verb, doc["status"], execution_id):
            return doc["status"]
        previous = doc["status"]
        doc["status"] = transitional
        try:
            status, _, _ = getattr(self.runners[execution_id], verb)()
        except Exception:
            doc["status"] = previous
            raise
        doc["status"] = status
        if verb == cascade.PAUSE:
            cascade.pause_up(self, execution_id)  # the host's cascade-up hook
        return status

    def request_pause(self, execution_id: str) -> None:
        self._operate(execution_id, cascade.PAUSE, St2.PAUSING)

    def request_resume(self, execution_id: str) -> None:
        self._operate(execution_id, cascade.RESUME, St2.RESUMING)

    def request_cancel(self, execution_id: str) -> None:
        self._operate(execution_id, cascade.CANCEL, St2.CANCELING)

    # what a user does (st2 execution pause/resume/cancel) -> the status the API answers
    def pause(self, execution_id: str) -> str:
        return self._operate(execution_id, cascade.PAUSE, St2.PAUSING)

    def resume(self, execution_id: str) -> str:
        return self._operate(execution_id, cascade.RESUME, St2.RESUMING)

    def cancel(self, execution_id: str) -> str:
        return self._operate(execution_id, cascade.CANCEL, St2.CANCELING)

    # -- reconciling ----------------------------------------------------------------------------------

    def refresh(self) -> None:
        """One reconciler round: children first, parents see their children's statuses."""
        for doc in sorted(self.docs.values(), key=lambda d: -self._depth(d["id"])):
            if statuses.is_completed(doc["status"]):
                continue
            status, result = self.querier.query(doc["id"], doc["context"]["mistral"])
            children = [c["status"] for c in self.list_children(doc["id"])]
            doc["status"] = cascade.combine_status(status, children)
            self.results[doc["id"]] = result
            if statuses.is_completed(doc["status"]) and doc["callback"] and doc["id"] not in self.reported:
                self.reported.add(doc["id"])
                MistralCallbackHandler.callback(doc["callback"]["url"], doc["context"], doc["status"], result)

    def _depth(self, execution_id: str) -> int:
        depth, parent = 0, self.docs[execution_id]["parent"]
        while parent:
            depth, parent = depth + 1, self.docs[parent]["parent"]
        return depth

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + HANG_GUARD
        while True:
            self.refresh()
            if condition():
                return
            if time.monotonic() > deadline:
                pytest.fail("still waiting for %s; statuses: %s" % (
                    what, {k: d["status"] for k, d in self.docs.items()}))
            time.sleep(0.2)

    def wait_status(self, execution_id: str, wanted: Iterable[str]) -> str:
        wanted = set(wanted)
        self.wait(lambda: self.docs[execution_id]["status"] in wanted, "%s in %s" % (execution_id, wanted))
        return self.docs[execution_id]["status"]

    # -- Mistral facts ----------------------------------------------------------------------------------

    def mistral_id(self, execution_id: str) -> str:
        return self.docs[execution_id]["context"]["mistral"]["execution_id"]

    def tasks(self, mistral_id: str) -> Dict[str, str]:
        return {t["name"]: t["state"] for t in self.api.list_tasks(mistral_id)}

    def tree(self, execution_id: str) -> Dict[str, str]:
        """workflow name -> Mistral state for the root and every subworkflow."""
        root = self.mistral_id(execution_id)
        out = {self.api.get_execution(root)["workflow_name"]: self.api.get_execution(root)["state"]}
        for sub in cascade.subworkflow_executions(self.api, root):
            out[sub["workflow_name"]] = sub["state"]
        return out

    def all_tasks(self, execution_id: str) -> Dict[str, str]:
        root = self.mistral_id(execution_id)
        found = self.tasks(root)
        for sub in cascade.subworkflow_executions(self.api, root):
            found.update(self.tasks(sub["id"]))
        return found

    def wait_task(self, mistral_id: str, name: str, state: str) -> None:
        self.wait(lambda: self.tasks(mistral_id).get(name) == state, "task %s %s" % (name, state))

    def wait_subworkflow_task(self, execution_id: str, name: str, state: str) -> None:
        self.wait(lambda: self.all_tasks(execution_id).get(name) == state, "task %s %s" % (name, state))

    def action_execution_of(self, mistral_id: str, task_name: str) -> str:
        self.wait_task(mistral_id, task_name, "RUNNING")
        task = [t for t in self.api.list_tasks(mistral_id) if t["name"] == task_name][0]
        return self.client.action_executions.list(task_execution_id=task["id"])[0].id

    def finish_async_task(self, mistral_id: str, task_name: str) -> None:
        """Complete a std.async_noop task (RUNNING or PAUSED) the way a callback does."""
        self.wait(lambda: task_name in self.tasks(mistral_id), "task %s" % task_name)
        task = [t for t in self.api.list_tasks(mistral_id) if t["name"] == task_name][0]
        ae_id = self.client.action_executions.list(task_execution_id=task["id"])[0].id
        self.client.action_executions.update(ae_id, state="SUCCESS", output={"result": "ok"})
