"""Unit tests of parameter validation/masking and of pack registration."""
from __future__ import annotations

import os

import pytest

from mistral_v2.exceptions import ConfigurationError, InvalidParametersError
from st2mistral_local import packs, params
from st2mistral_local.store import Store

SCHEMA = {
    "name": {"type": "string", "required": True},
    "count": {"type": "integer", "default": 2},
    "ratio": {"type": "number"},
    "flag": {"type": "boolean"},
    "items": {"type": "array"},
    "opts": {"type": "object"},
    "fixed": {"type": "string", "immutable": True, "default": "F"},
    "password": {"type": "string", "secret": True},
    "color": {"type": "string", "enum": ["red", "blue"]},
}


def test_defaults_applied_and_values_kept():
    out = params.finalize("p.a", SCHEMA, {"name": "n", "ratio": 1, "items": [1], "opts": {"a": 1}})
    assert out == {"name": "n", "count": 2, "ratio": 1, "items": [1], "opts": {"a": 1}, "fixed": "F"}


def test_every_problem_is_reported_at_once():
    with pytest.raises(InvalidParametersError) as err:
        params.finalize("p.a", SCHEMA, {"count": "3", "flag": 1, "fixed": "G", "bogus": 1, "color": "green"})
    msg = str(err.value)
    for part in ('"bogus"', 'required parameter "name"', '"count" must be of type integer',
                 '"flag" must be of type boolean', '"fixed" is immutable', '"color" must be one of'):
        assert part in msg
    assert "p.a" in msg


def test_bool_is_not_an_integer_and_secret_values_are_not_echoed():
    with pytest.raises(InvalidParametersError) as err:
        params.finalize("p.a", SCHEMA, {"name": "n", "count": True, "password": 5})
    assert "5" not in str(err.value).split("password")[1]
    assert params.MASK in str(err.value)


def test_template_defaults_are_rendered_and_shell_quoted_in_cmd():
    schema = {"message": {"type": "string"}, "cmd": {"type": "string", "default": "echo {{message}}"},
              "note": {"type": "string", "default": "said {{ message }}"}}
    out = params.finalize("core.echo", schema, {"message": "a; rm -rf /"})
    assert out["cmd"] == "echo 'a; rm -rf /'"
    assert out["note"] == "said a; rm -rf /"


def test_merge_split_and_mask():
    merged = params.merge_schema({"cmd": {"type": "string"}, "timeout": {"type": "integer", "default": 60}},
                                 {"cmd": {"required": True}, "password": {"type": "string", "secret": True}})
    assert merged["cmd"] == {"type": "string", "required": True}
    runner, action = params.split({"cmd": {}, "timeout": {}}, {"cmd": "ls", "timeout": 5, "password": "p"})
    assert runner == {"cmd": "ls", "timeout": 5} and action == {"password": "p"}
    assert params.secret_names(merged) == ["password"]


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


def _pack(tmp_path, actions, name="tp"):
    root = str(tmp_path / name)
    _write(os.path.join(root, "pack.yaml"), "ref: %s\nname: %s\n" % (name, name))
    for fname, text in actions.items():
        _write(os.path.join(root, "actions", fname), text)
    return root


def test_pack_registration_reads_metadata(tmp_path):
    root = _pack(tmp_path, {
        "wf.yaml": "name: wf\nrunner_type: mistral-v2\nentry_point: workflows/wf.yaml\n"
                   "parameters:\n  x:\n    type: integer\n    default: 1\n",
        "workflows/wf.yaml": "version: '2.0'\n",
        "shell.yaml": "name: shell\nrunner_type: local-shell-cmd\nenabled: false\n",
    })
    store = Store(str(tmp_path / "s.sqlite"))
    refs = packs.register_pack(store, root)
    assert sorted(refs) == ["tp.shell", "tp.wf"]
    wf = store.get_action("tp.wf")
    assert wf["entry_point"] == "workflows/wf.yaml" and wf["parameters"]["x"]["default"] == 1
    assert wf["uid"] == "action:tp:wf" and wf["_pack_dir"] == root
    assert store.get_action("tp.shell")["enabled"] is False
    again = packs.register_pack(store, root)  # re-registration keeps ids
    assert store.get_action("tp.wf")["id"] == wf["id"] and len(again) == 2


def test_pack_errors_name_each_file_and_problem(tmp_path):
    root = _pack(tmp_path, {
        "a.yaml": "name: a\nrunner_type: nope\n",
        "b.yaml": "name: b\nrunner_type: mistral-v2\nentry_point: workflows/missing.yaml\n",
        "c.yaml": "name: c\nrunner_type: mistral-v2\nentry_point: ../escape.yaml\n",
        "d.yaml": "name: d\npack: other\nrunner_type: noop\nparameters:\n  p:\n    type: strng\n",
        "e.yaml": "name: [unclosed\n",
    })
    with pytest.raises(ConfigurationError) as err:
        packs.read_pack(root)
    msg = str(err.value)
    for part in ('unknown runner_type "nope"', "actions/workflows/missing.yaml does not exist",
                 'must be relative to the pack', '"pack" is "other"', 'unknown type "strng"',
                 "e.yaml is not valid YAML"):
        assert part in msg


def test_missing_pack_yaml_is_refused(tmp_path):
    with pytest.raises(ConfigurationError) as err:
        packs.read_pack(str(tmp_path))
    assert "pack.yaml" in str(err.value)


def test_core_pack_is_built_in(tmp_path):
    store = Store(str(tmp_path / "s.sqlite"))
    assert sorted(packs.register_core(store)) == ["core.echo", "core.local", "core.noop"]
    assert store.get_action("core.local")["runner_type"] == "local-shell-cmd"
