"""mistral_v2.cascade against in-memory stand-ins for Mistral (a tree of executions) and StackStorm."""
from typing import Any, Dict, List, Optional

import pytest

from mistral_v2 import cascade
from mistral_v2.exceptions import (
    InvalidOperationError,
    MistralAPIError,
    StackStormAPIError,
    WorkflowNotFoundError,
)

TERMINAL = {"SUCCESS", "ERROR", "CANCELLED"}


class FakeMistral:
    """Executions (root + subworkflows) with tasks; cascades down like Mistral 23 unless told not to."""

    def __init__(self, cascades: bool = True) -> None:
        self.cascades = cascades
        self.executions: Dict[str, Dict[str, Any]] = {}
        self.tasks: Dict[str, List[Dict[str, Any]]] = {}
        self.action_executions: Dict[str, Dict[str, Any]] = {}
        self.updates: List[tuple] = []
        self.action_updates: List[tuple] = []

    def add(self, ex_id: str, state: str = "RUNNING", root: Optional[str] = None,
            tasks: Optional[List[str]] = None) -> None:
        self.executions[ex_id] = {"id": ex_id, "state": state, "root_execution_id": root}
        self.tasks[ex_id] = [{"state": s} for s in (tasks or [])]

    def get_execution(self, ex_id: str) -> Dict[str, Any]:
        if ex_id not in self.executions:
            raise WorkflowNotFoundError("WorkflowExecution not found", 404)
        return dict(self.executions[ex_id])

    def list_executions(self, root_execution_id: str = None, **_: Any) -> List[Dict[str, Any]]:
        return [dict(e) for e in self.executions.values() if e["root_execution_id"] == root_execution_id]

    def list_tasks(self, ex_id: str) -> List[Dict[str, Any]]:
        return list(self.tasks[ex_id])

    def update_execution(self, ex_id: str, state: str = None, env: Any = None) -> Dict[str, Any]:
        ex = self.get_execution(ex_id)
        self.updates.append((ex_id, state))
        if state == "FOO":
            raise MistralAPIError("Cannot change state to FOO", 400)
        if ex["state"] in TERMINAL:
            if state == "PAUSED":
                raise MistralAPIError("Can't change workflow execution state from %s to PAUSED" % ex["state"], 400)
            return ex
        if state == "RUNNING" and ex["state"] != "PAUSED":
            return ex
        self.executions[ex_id]["state"] = state
        if self.cascades and ex["root_execution_id"] is None:
            for sub in self.executions.values():
                if sub["root_execution_id"] == ex_id and sub["state"] not in TERMINAL:
                    sub["state"] = state
        return dict(self.executions[ex_id])

    def get_action_execution(self, ae_id: str) -> Dict[str, Any]:
        return dict(self.action_executions[ae_id])

    def update_action_execution(self, ae_id: str, state: str, output: Any = None) -> Dict[str, Any]:
        self.action_updates.append((ae_id, state))
        self.action_executions[ae_id]["state"] = state
        return dict(self.action_executions[ae_id])


class FakeSt2:
    """StackStorm executions; a request changes the child's status the way the host would."""

    def __init__(self) -> None:
        self.executions: Dict[str, Dict[str, Any]] = {}
        self.requests: List[tuple] = []
        self.fail_for: set = set()
        self.on_request = None

    def add(self, ex_id: str, status: str = "running", parent: Optional[str] = None,
            runner: str = "mistral-v2", context: Optional[Dict[str, Any]] = None) -> None:
        ctx = dict(context or {})
        if parent:
            ctx.setdefault("parent", {"execution_id": parent})
        self.executions[ex_id] = {"id": ex_id, "status": status, "parent": parent,
                                  "runner": {"name": runner}, "context": ctx}

    def get_execution(self, ex_id: str) -> Dict[str, Any]:
        return dict(self.executions[ex_id])

    def list_children(self, ex_id: str) -> List[Dict[str, Any]]:
        return [dict(e) for e in self.executions.values() if e["parent"] == ex_id]

    def _request(self, op: str, ex_id: str, status: str) -> None:
        if ex_id in self.fail_for:
            raise StackStormAPIError("HTTP 500 from StackStorm")
        self.requests.append((op, ex_id))
        self.executions[ex_id]["status"] = status
        if self.on_request:
            self.on_request(op, ex_id)

    def request_pause(self, ex_id: str) -> None:
        self._request("pause", ex_id, "pausing")

    def request_resume(self, ex_id: str) -> None:
        self._request("resume", ex_id, "resuming")

    def request_cancel(self, ex_id: str) -> None:
        self._request("cancel", ex_id, "canceling")


def depth3(mistral: FakeMistral, deep_task: str = "RUNNING") -> None:
    mistral.add("root", tasks=["RUNNING"])
    mistral.add("sub1", root="root", tasks=["RUNNING"])
    mistral.add("sub2", root="root", tasks=[deep_task])


# -- check_request: StackStorm's action-service rules -----------------------------------------------

@pytest.mark.parametrize("op,status,expected", [
    ("pause", "running", True),
    ("pause", "pausing", False),
    ("pause", "paused", False),
    ("resume", "paused", True),
    ("resume", "pausing", True),
    ("resume", "running", False),
    ("resume", "resuming", False),
    ("cancel", "running", True),
    ("cancel", "paused", True),
    ("cancel", "pausing", True),
    ("cancel", "canceling", False),
])
def test_check_request_acts_or_is_noop(op, status, expected):
    assert cascade.check_request(op, status) is expected


@pytest.mark.parametrize("op,status", [
    ("pause", "succeeded"), ("pause", "canceling"), ("pause", "resuming"), ("pause", "requested"),
    ("resume", "succeeded"), ("resume", "canceled"), ("resume", "canceling"),
    ("cancel", "succeeded"), ("cancel", "failed"), ("cancel", "canceled"),
])
def test_check_request_refuses_with_clear_message(op, status):
    with pytest.raises(InvalidOperationError) as err:
        cascade.check_request(op, status, "ex42")
    assert 'ex42 is "%s"' % status in str(err.value)
    assert op in str(err.value)


def test_check_request_unknown_operation():
    with pytest.raises(InvalidOperationError, match='Unknown operation "stop"'):
        cascade.check_request("stop", "running")


# -- pure helpers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("own,children,expected", [
    ("paused", ["paused", "succeeded"], "paused"),
    ("paused", ["pausing"], "pausing"),
    ("paused", ["running"], "pausing"),
    ("paused", ["pending", "paused"], "paused"),  # an Inquiry waiting is not active (StackStorm 3.2)
    ("canceled", ["running"], "canceling"),
    ("canceled", ["canceled", "paused"], "canceled"),
    ("running", ["pausing"], "running"),
    ("pausing", [], "pausing"),
])
def test_combine_status(own, children, expected):
    assert cascade.combine_status(own, children) == expected


@pytest.mark.parametrize("child,parent,expected", [
    ("pausing", "running", True), ("paused", "running", True), ("paused", "resuming", True),
    ("paused", "paused", False), ("paused", "pausing", False), ("running", "running", False),
    ("paused", "succeeded", False),
])
def test_should_pause_parent(child, parent, expected):
    assert cascade.should_pause_parent(child, parent) is expected


def test_is_workflow_by_runner_name_or_action_runner_type():
    assert cascade.is_workflow({"runner": {"name": "mistral-v2"}})
    assert cascade.is_workflow({"runner": {"name": "orquesta"}})
    assert cascade.is_workflow({"action": {"runner_type": "action-chain"}})
    assert not cascade.is_workflow({"runner": {"name": "local-shell-cmd"}})
    assert not cascade.is_workflow({})


def test_parent_action_execution_id_from_context_or_callback():
    ctx = {"parent": {"execution_id": "p"}, "mistral": {"action_execution_id": "ae1"}}
    assert cascade.parent_action_execution_id(ctx) == "ae1"
    ctx = {"parent": {"execution_id": "p"}, "mistral": {"execution_id": "own"}}
    cb = {"source": "mistral_v2", "url": "http://127.0.0.1:8989/v2/action_executions/ae2"}
    assert cascade.parent_action_execution_id(ctx, cb) == "ae2"
    assert cascade.parent_action_execution_id({"mistral": {"action_execution_id": "x"}}) is None
    assert cascade.parent_action_execution_id(ctx, {}) is None


# -- Mistral tree ------------------------------------------------------------------------------------

def test_tree_status_counts_tasks_of_every_subworkflow():
    m = FakeMistral()
    depth3(m)
    m.executions["root"]["state"] = "PAUSED"
    m.tasks["root"] = [{"state": "PAUSED"}]  # task whose subworkflow is paused
    m.tasks["sub1"] = [{"state": "PAUSED"}]
    assert cascade.tree_status(m, "root") == "pausing"  # sub2's action still RUNNING
    m.tasks["sub2"] = [{"state": "SUCCESS"}]
    assert cascade.tree_status(m, "root") == "paused"


def test_apply_to_tree_sets_subworkflows_mistral_did_not_reach():
    m = FakeMistral(cascades=False)
    depth3(m)
    status = cascade.apply_to_tree(m, "root", cascade.PAUSE)
    assert {e["state"] for e in m.executions.values()} == {"PAUSED"}
    assert ("sub1", "PAUSED") in m.updates and ("sub2", "PAUSED") in m.updates
    assert status == "pausing"


def test_apply_to_tree_does_not_touch_subworkflows_mistral_already_set():
    m = FakeMistral()
    depth3(m)
    cascade.apply_to_tree(m, "root", cascade.PAUSE)
    assert m.updates == [("root", "PAUSED")]


def test_resume_of_tree_leaves_completed_subworkflows_alone():
    m = FakeMistral(cascades=False)
    depth3(m, deep_task="SUCCESS")
    m.executions["root"]["state"] = "PAUSED"
    m.executions["sub1"]["state"] = "PAUSED"
    m.executions["sub2"]["state"] = "SUCCESS"
    status = cascade.apply_to_tree(m, "root", cascade.RESUME)
    assert m.executions["sub1"]["state"] == "RUNNING"
    assert m.executions["sub2"]["state"] == "SUCCESS"
    assert ("sub2", "RUNNING") not in m.updates
    assert status == "running"


def test_pause_after_workflow_ended_returns_final_status_not_pausing():
    m = FakeMistral()
    m.add("root", state="SUCCESS", tasks=["SUCCESS"])
    assert cascade.pause(m, None, "st2", "root") == "succeeded"
    assert m.executions["root"]["state"] == "SUCCESS"


def test_pause_of_missing_mistral_execution_is_invalid_operation():
    m = FakeMistral()
    with pytest.raises(InvalidOperationError, match="no longer exists"):
        cascade.pause(m, None, "st2", "gone")


def test_refusal_of_running_execution_is_invalid_operation():
    m = FakeMistral()
    m.add("root")
    with pytest.raises(InvalidOperationError, match="Mistral refused"):
        cascade._set_state(m, "root", "FOO")


# -- StackStorm children -----------------------------------------------------------------------------

def family():
    """st2: root(mistral) -> [wfchild (running), shell (running), pchild (paused)] ; wfchild -> grand."""
    s = FakeSt2()
    s.add("root")
    s.add("wfchild", parent="root", context={"mistral": {"action_execution_id": "ae-wf"}})
    s.add("shell", parent="root", runner="local-shell-cmd")
    s.add("pchild", parent="root", status="paused")
    s.add("grand", parent="wfchild", runner="action-chain")
    return s


def test_cascade_down_pause_only_running_workflow_children():
    s = family()
    assert cascade.cascade_down(s, "root", cascade.PAUSE) == ["wfchild"]
    assert s.requests == [("pause", "wfchild")]


def test_cascade_down_resume_only_paused_or_pausing_workflow_children():
    s = family()
    s.executions["wfchild"]["status"] = "pausing"
    assert sorted(cascade.cascade_down(s, "root", cascade.RESUME)) == ["pchild", "wfchild"]


def test_cascade_down_cancel_every_unfinished_workflow_child():
    s = family()
    s.add("done", parent="root", status="succeeded")
    assert sorted(cascade.cascade_down(s, "root", cascade.CANCEL)) == ["pchild", "wfchild"]


def test_cascade_down_reaches_any_depth_through_each_childs_runner():
    s = family()
    # The host runs the child's runner on each request; the child cascades to its own children.
    s.on_request = lambda op, ex_id: cascade.cascade_down(s, ex_id, {"pause": cascade.PAUSE}[op])
    cascade.cascade_down(s, "root", cascade.PAUSE)
    assert ("pause", "grand") in s.requests


def test_cascade_down_continues_after_a_failing_child():
    s = family()
    s.add("wf2", parent="root")
    s.fail_for = {"wfchild"}
    assert cascade.cascade_down(s, "root", cascade.PAUSE) == ["wf2"]


def test_cascade_down_without_st2_api_does_nothing():
    assert cascade.cascade_down(None, "root", cascade.PAUSE) == []


# -- runner-level operations -------------------------------------------------------------------------

def test_pause_pauses_tree_children_and_parent_task():
    m = FakeMistral()
    depth3(m)
    m.action_executions["ae-root"] = {"state": "RUNNING"}
    s = family()
    s.add("top")
    s.executions["root"]["parent"] = "top"
    ctx = {"parent": {"execution_id": "top"}, "mistral": {"action_execution_id": "ae-root"}}
    status = cascade.pause(m, s, "root", "root", context=ctx)
    assert m.executions["root"]["state"] == "PAUSED"
    assert ("pause", "wfchild") in s.requests
    assert m.action_updates == [("ae-root", "PAUSED")]
    assert status == "pausing"  # sub2 still running an action, wfchild pausing


def test_pause_reports_paused_when_nothing_is_active():
    m = FakeMistral()
    m.add("root", tasks=["SUCCESS"])
    s = FakeSt2()
    s.add("st2root")
    assert cascade.pause(m, s, "st2root", "root") == "paused"


def test_pause_answers_with_the_status_at_its_end_when_children_paused_meanwhile():
    """StackStorm stores the runner's answer over a `paused` the plugin pushed meanwhile."""
    m = FakeMistral()
    m.add("root", tasks=["RUNNING"])  # the st2.action task running the child workflow
    s = FakeSt2()
    s.add("st2root")
    s.add("kid", parent="st2root")

    def child_pauses(op, ex_id):  # the child pauses and Mistral marks the calling task PAUSED
        s.executions[ex_id]["status"] = "paused"
        m.tasks["root"] = [{"state": "PAUSED"}]

    s.on_request = child_pauses
    assert cascade.pause(m, s, "st2root", "root") == "paused"


def test_pause_and_resume_set_the_mistral_task_of_an_action_chain_child():
    """An action-chain child's runner never tells Mistral it pauses: the parent marks its task."""
    m = FakeMistral()
    m.add("root", tasks=["RUNNING"])
    m.action_executions["ae-chain"] = {"state": "RUNNING"}
    m.action_executions["ae-wf"] = {"state": "RUNNING"}
    s = FakeSt2()
    s.add("st2root")
    s.add("chain", parent="st2root", runner="action-chain", context={"mistral": {"action_execution_id": "ae-chain"}})
    s.add("wf", parent="st2root", context={"mistral": {"action_execution_id": "ae-wf"}})
    cascade.pause(m, s, "st2root", "root")
    assert ("ae-chain", "PAUSED") in m.action_updates
    assert ("ae-wf", "PAUSED") not in m.action_updates  # a mistral-v2 child's own runner does it
    s.executions["chain"]["status"] = s.executions["wf"]["status"] = "paused"
    cascade.resume(m, s, "st2root", "root")
    assert ("ae-chain", "RUNNING") in m.action_updates and ("ae-wf", "RUNNING") not in m.action_updates


def test_pause_leaves_ended_parent_task_alone():
    m = FakeMistral()
    m.add("root", tasks=["RUNNING"])
    m.action_executions["ae"] = {"state": "SUCCESS"}
    ctx = {"parent": {"execution_id": "top"}, "mistral": {"action_execution_id": "ae"}}
    cascade.pause(m, None, "root", "root", context=ctx)
    assert m.action_updates == []


def test_resume_of_child_alone_does_not_resume_parent():
    m = FakeMistral()
    m.add("child", state="PAUSED", tasks=["SUCCESS"])
    m.action_executions["ae"] = {"state": "PAUSED"}
    s = FakeSt2()
    s.add("top", status="paused")
    s.add("c", parent="top", status="resuming")
    ctx = {"parent": {"execution_id": "top"}, "mistral": {"action_execution_id": "ae"}}
    assert cascade.resume(m, s, "c", "child", context=ctx) == "running"
    assert m.executions["child"]["state"] == "RUNNING"
    assert m.action_updates == []  # parent's task stays PAUSED -> parent stays PAUSED in Mistral
    assert s.executions["top"]["status"] == "paused"


def test_resume_coming_from_parent_sets_parent_task_running():
    m = FakeMistral()
    m.add("child", state="PAUSED", tasks=["SUCCESS"])
    m.action_executions["ae"] = {"state": "PAUSED"}
    s = FakeSt2()
    s.add("top", status="resuming")
    s.add("c", parent="top", status="resuming")
    ctx = {"parent": {"execution_id": "top"}, "mistral": {"action_execution_id": "ae"}}
    cascade.resume(m, s, "c", "child", context=ctx)
    assert m.action_updates == [("ae", "RUNNING")]


def test_resume_cascades_to_paused_children():
    m = FakeMistral()
    depth3(m)
    cascade.apply_to_tree(m, "root", cascade.PAUSE)
    s = family()
    assert cascade.resume(m, s, "root", "root") == "running"
    assert {e["state"] for e in m.executions.values()} == {"RUNNING"}
    assert s.requests == [("resume", "pchild")]


def test_resume_of_running_execution_changes_nothing():
    m = FakeMistral()
    m.add("root", tasks=["RUNNING"])
    assert cascade.resume(m, None, "st2", "root") == "running"
    assert m.executions["root"]["state"] == "RUNNING"


def test_cancel_of_paused_execution_ends_canceled():
    m = FakeMistral()
    depth3(m, deep_task="SUCCESS")
    m.tasks["root"] = [{"state": "PAUSED"}]
    m.tasks["sub1"] = [{"state": "PAUSED"}]
    cascade.apply_to_tree(m, "root", cascade.PAUSE)
    m.tasks["root"] = [{"state": "CANCELLED"}]
    m.tasks["sub1"] = [{"state": "CANCELLED"}]
    s = family()
    s.executions["wfchild"]["status"] = "paused"
    status = cascade.cancel(m, s, "root", "root")
    assert {e["state"] for e in m.executions.values()} == {"CANCELLED"}
    assert sorted(r[1] for r in s.requests) == ["pchild", "wfchild"]
    assert status == "canceling"  # children are canceling until their runners finish


def test_cancel_reports_canceling_while_an_action_runs():
    m = FakeMistral()
    depth3(m)
    assert cascade.cancel(m, None, "st2", "root") == "canceling"
    m.tasks["sub2"] = [{"state": "SUCCESS"}]
    m.tasks["root"] = [{"state": "CANCELLED"}]
    m.tasks["sub1"] = [{"state": "CANCELLED"}]
    assert cascade.tree_status(m, "root") == "canceled"


def test_cancel_after_success_reports_succeeded():
    m = FakeMistral()
    m.add("root", state="SUCCESS", tasks=["SUCCESS"])
    assert cascade.cancel(m, None, "st2", "root") == "succeeded"


# -- cascade up --------------------------------------------------------------------------------------

def test_pause_up_requests_pause_of_running_parent_only():
    s = FakeSt2()
    s.add("top")
    s.add("mid", parent="top")
    s.add("leaf", parent="mid", status="pausing")
    assert cascade.pause_up(s, "leaf") == ["mid"]  # mid's own runner continues up to top
    assert s.requests == [("pause", "mid")]


def test_pause_up_through_already_paused_parent_pauses_siblings_and_continues():
    s = FakeSt2()
    s.add("top")
    s.add("mid", parent="top", status="paused")  # paused by Mistral alone
    s.add("leaf", parent="mid", status="paused")
    s.add("sibling", parent="mid")
    asked = cascade.pause_up(s, "leaf")
    assert asked == ["sibling", "top"]


def test_pause_up_of_root_does_nothing():
    s = FakeSt2()
    s.add("top", status="paused")
    assert cascade.pause_up(s, "top") == []
    assert s.requests == []


def test_cancel_of_a_child_workflow_cancels_its_task_in_the_parent_workflow():
    """As StackStorm's runner: the parent's action execution goes CANCELLED (Mistral then cancels
    the parent workflow), so the parent shows canceling before the child has ended."""
    m = FakeMistral()
    m.add("child", tasks=["RUNNING"])
    m.action_executions["ae"] = {"state": "RUNNING"}
    ctx = {"parent": {"execution_id": "top"}, "mistral": {"action_execution_id": "ae"}}
    assert cascade.cancel(m, None, "c", "child", context=ctx) == "canceling"
    assert m.executions["child"]["state"] == "CANCELLED"
    assert m.action_updates == [("ae", "CANCELLED")]


def test_cancel_without_a_parent_or_of_an_ended_parent_task_changes_no_action_execution():
    m = FakeMistral()
    m.add("root", tasks=["RUNNING"])
    m.action_executions["ae"] = {"state": "SUCCESS"}
    cascade.cancel(m, None, "r", "root")
    cascade.cancel(m, None, "r", "root", context={"parent": {"execution_id": "top"},
                                                  "mistral": {"action_execution_id": "ae"}})
    assert m.action_updates == []


def test_pause_of_a_parent_whose_child_workflow_paused_itself_pauses_the_childs_task():
    """A child paused by a pause-before task (not through its runner) leaves its task in the parent
    RUNNING: the parent's pause sets it PAUSED, else the parent would stay pausing for ever."""
    m = FakeMistral()
    m.add("root", tasks=["RUNNING"])
    m.action_executions["ae-child"] = {"state": "RUNNING"}
    s = FakeSt2()
    s.add("top")
    s.add("child", status="paused", parent="top", context={"mistral": {"action_execution_id": "ae-child"}})
    s.add("other", status="succeeded", parent="top", context={"mistral": {"action_execution_id": "ae-done"}})
    cascade.pause(m, s, "top", "root")
    assert m.action_updates == [("ae-child", "PAUSED")]
    assert s.requests == []  # the paused child is not asked again


# -- the pause answer racing the child's own pause (examples: pause-before-task-subworkflow-action) ---------

def _parent_with_self_paused_child(child_tasks):
    """A Mistral parent whose task runs a mistral-v2 child that paused itself (a pause-before task):
    Mistral has both trees PAUSED; StackStorm still shows the child `pausing` (its runner's answer
    is not stored yet)."""
    m = FakeMistral()
    m.add("root", state="PAUSED", tasks=["PAUSED"])
    m.add("kidwf", state="PAUSED", tasks=child_tasks)
    m.action_executions["ae-kid"] = {"state": "PAUSED"}
    s = FakeSt2()
    s.add("st2root", status="pausing")
    s.add("kid", status="pausing", parent="st2root",
          context={"mistral": {"execution_id": "kidwf", "action_execution_id": "ae-kid"}})
    return m, s


def test_pause_counts_a_pausing_mistral_child_whose_tree_is_paused_as_paused():
    """The parent's runner answered `pausing` because StackStorm still showed the child pausing;
    StackStorm stored that answer over the `paused` pushed meanwhile and the parent stayed pausing."""
    m, s = _parent_with_self_paused_child(["SUCCESS", "IDLE"])
    assert cascade.pause(m, s, "st2root", "root") == "paused"


def test_pause_still_counts_a_pausing_mistral_child_with_an_active_task():
    m, s = _parent_with_self_paused_child(["RUNNING"])
    assert cascade.pause(m, s, "st2root", "root") == "pausing"


def test_pause_still_counts_a_mistral_child_whose_own_child_chain_is_pausing():
    m, s = _parent_with_self_paused_child(["SUCCESS", "IDLE"])
    s.add("chain", status="pausing", parent="kid", runner="action-chain")
    assert cascade.pause(m, s, "st2root", "root") == "pausing"
    s.executions["chain"]["status"] = "paused"
    assert cascade.pause(m, s, "st2root", "root") == "paused"


def test_pause_never_answers_pausing_over_a_paused_stackstorm_accepted_meanwhile():
    """Forced order: the runner lists its children (a chain still pausing), then the chain pauses
    and StackStorm accepts the plugin's `paused` for the parent, then the runner answers."""
    m = FakeMistral()
    m.add("root", state="PAUSED", tasks=["PAUSED"])
    s = FakeSt2()
    s.add("st2root", status="pausing")
    s.add("chain", status="pausing", parent="st2root", runner="action-chain")
    listed = []
    plain_list = s.list_children

    def list_then_settle(ex_id):
        children = plain_list(ex_id)
        listed.append(ex_id)
        if len(listed) == 2:  # the runner's last look; then the chain pauses, the push is accepted
            s.executions["chain"]["status"] = "paused"
            s.executions["st2root"]["status"] = "paused"
        return children

    s.list_children = list_then_settle
    assert cascade.pause(m, s, "st2root", "root") == "paused"
    assert listed == ["st2root", "st2root"]


class TaskFollowsAction(FakeMistral):
    """Mistral 23: the task of an action execution set PAUSED/RUNNING takes that state."""

    def __init__(self, task_of: Dict[str, tuple]) -> None:
        super().__init__()
        self.task_of = task_of  # action execution id -> (execution id, task index)

    def update_action_execution(self, ae_id: str, state: str, output: Any = None) -> Dict[str, Any]:
        ex_id, index = self.task_of[ae_id]
        self.tasks[ex_id][index]["state"] = state
        return super().update_action_execution(ae_id, state, output)


def test_pause_with_a_pending_inquiry_pauses_its_task_and_is_paused_resume_runs_it_again():
    """core.ask pending below the workflow: its Mistral task is PAUSED with the workflow, so the
    workflow is `paused` (not `pausing` for ever) while the inquiry waits; resume sets it RUNNING
    again so the response completes it. Other children's tasks are left to their runners."""
    m = TaskFollowsAction({"ae-ask": ("root", 0), "ae-local": ("root", 1)})
    m.add("root", tasks=["RUNNING", "RUNNING"])
    m.action_executions["ae-ask"] = {"state": "RUNNING"}
    m.action_executions["ae-local"] = {"state": "RUNNING"}
    s = FakeSt2()
    s.add("st2root")
    s.add("ask", status="pending", parent="st2root", runner="inquirer",
          context={"mistral": {"action_execution_id": "ae-ask"}})
    s.add("local", status="running", parent="st2root", runner="local-shell-cmd",
          context={"mistral": {"action_execution_id": "ae-local"}})
    assert cascade.pause(m, s, "st2root", "root") == "pausing"  # core.local still runs
    assert m.action_updates == [("ae-ask", "PAUSED")]
    s.executions["local"]["status"] = "succeeded"
    m.tasks["root"][1]["state"] = "SUCCESS"
    assert cascade.tree_status(m, "root") == "paused"
    assert cascade.resume(m, s, "st2root", "root") == "running"
    assert m.action_updates == [("ae-ask", "PAUSED"), ("ae-ask", "RUNNING")]


def test_pause_with_only_a_pending_inquiry_answers_paused():
    m = TaskFollowsAction({"ae-ask": ("root", 0)})
    m.add("root", tasks=["RUNNING"])
    m.action_executions["ae-ask"] = {"state": "RUNNING"}
    s = FakeSt2()
    s.add("st2root")
    s.add("ask", status="pending", parent="st2root", runner="inquirer",
          context={"mistral": {"action_execution_id": "ae-ask"}})
    assert cascade.pause(m, s, "st2root", "root") == "paused"
