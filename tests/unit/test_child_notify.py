"""mistral_v2.context.child_notify: the notify a workflow's children get."""
from mistral_v2 import context


def test_none_routes_of_an_alias_execution_are_dropped_the_rest_kept():
    notify = {"on-complete": {"routes": [None], "data": {"user": "st2admin", "source_context": None},
                              "message": "done"},
              "on-failure": {"routes": ["slack", None], "channels": [None]}}
    out = context.child_notify(notify)
    assert out == {"on-complete": {"routes": [], "data": {"user": "st2admin", "source_context": None},
                                   "message": "done"},
                   "on-failure": {"routes": ["slack"], "channels": []}}
    assert notify["on-complete"]["routes"] == [None]  # the liveaction's own notify is not changed


def test_no_notify_is_an_empty_dict_and_build_env_uses_it():
    assert context.child_notify(None) == {}
    env = context.build_env("ex1", "ex1", {}, "http://st2/v1", notify={"on-complete": {"routes": [None]}})
    assert env["__actions"]["st2.action"]["st2_context"]["notify"] == {"on-complete": {"routes": []}}
