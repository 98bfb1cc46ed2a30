"""Unit tests of the host's rendering of Jinja in supplied parameters (st2kv, casts, use_none)."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import pytest

from mistral_v2.exceptions import InvalidParametersError
from st2mistral_local.live_params import NONE_MAGIC_VALUE, Renderer

KEYS: Dict[Tuple[str, str, str], str] = {
    ("system", "foobar", ""): "fb",
    ("system", "a.b", ""): "dotted",
    ("system", "count", ""): "42",
    ("system", "pw", ""): "enc:hunter2",
    ("user", "mine", "alice"): "alice-value",
    ("user", "mine", "bob"): "bob-value",
}
SCHEMA = {"cmd": {"type": "string"}, "n": {"type": "integer"}, "flag": {"type": "boolean"},
          "obj": {"type": "object"}, "s": {"type": "string"}, "free": {}}


def _read(scope: str, name: str, user: str) -> Optional[str]:
    return KEYS.get((scope, name, user if scope == "user" else ""))


def _decrypt(text: str) -> str:
    assert text.startswith("enc:"), text
    return text[4:]


RENDERER = Renderer(_read, _decrypt)


def render(supplied, user="alice", **ctx):
    return RENDERER.render("core.local", SCHEMA, supplied, dict(ctx, user=user))


def test_system_user_and_dotted_keys():
    assert render({"cmd": 'echo "{{ st2kv.system.foobar }}"'}) == {"cmd": 'echo "fb"'}
    assert render({"cmd": "{{ st2kv.system.a.b }}"}) == {"cmd": "dotted"}
    assert render({"cmd": "{{ st2kv.user.mine }}"}) == {"cmd": "alice-value"}
    assert render({"cmd": "{{ st2kv.user.mine }}"}, user="bob") == {"cmd": "bob-value"}
    assert render({"cmd": "{{ st2kv.user.mine }}"}, user="carol", api_user="bob") == {"cmd": "bob-value"}


def test_missing_key_renders_empty_as_stackstorm():
    assert render({"cmd": "[{{ st2kv.system.nope }}]"}) == {"cmd": "[]"}


def test_secret_stays_encrypted_unless_decrypt_kv():
    assert render({"cmd": "{{ st2kv.system.pw }}"}) == {"cmd": "enc:hunter2"}
    assert render({"cmd": "{{ st2kv.system.pw | decrypt_kv }}"}) == {"cmd": "hunter2"}


def test_decrypt_kv_of_a_missing_key_names_it():
    with pytest.raises(InvalidParametersError,
                       match='parameter "cmd" of action core.local: .*"st2kv.system.gone" does not exist'):
        render({"cmd": "{{ st2kv.system.gone | decrypt_kv }}"})


def test_rendered_values_are_cast_to_the_parameter_type():
    out = render({"n": "{{ st2kv.system.count }}", "flag": "{{ 'true' }}", "obj": '{"k": "{{ st2kv.system.foobar }}"}'})
    assert out == {"n": 42, "flag": True, "obj": {"k": "fb"}}


def test_use_none_marker_becomes_none_for_typed_parameters_only():
    assert render({"s": NONE_MAGIC_VALUE, "n": NONE_MAGIC_VALUE}) == {"s": None, "n": None}
    assert render({"free": NONE_MAGIC_VALUE}) == {"free": NONE_MAGIC_VALUE}
    assert render({"s": "{{ '%s' }}" % NONE_MAGIC_VALUE}) == {"s": None}


def test_other_parameters_and_action_context_are_visible():
    out = render({"s": "x", "cmd": "echo {{ s }} {{ action_context.user }}"})
    assert out == {"s": "x", "cmd": "echo x alice"}


def test_nested_values_are_rendered():
    assert render({"obj": {"a": ["{{ st2kv.system.foobar }}", 1]}}) == {"obj": {"a": ["fb", 1]}}


def test_plain_values_are_untouched():
    supplied = {"cmd": "echo hi", "n": 3, "obj": {"a": [1]}}
    assert render(supplied) == supplied


@pytest.mark.parametrize("supplied,problem", [
    ({"cmd": "{{ undefined_thing }}"}, "'undefined_thing' is undefined"),
    ({"cmd": "{{ st2kv.system.foobar "}, "unexpected end of template"),
    ({"n": "{{ st2kv.system.foobar }}"}, "invalid literal for int"),
])
def test_render_problems_name_the_parameter(supplied, problem):
    name = next(iter(supplied))
    with pytest.raises(InvalidParametersError, match='^Failed to render parameter "%s" of action core.local: .*%s'
                       % (name, problem)):
        render(supplied)
