"""Unit tests of the data expression functions (st2mistral semantics, clear errors)."""
from __future__ import annotations

import collections.abc
import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "st2mistral_plugin"))

from mistral_v2.exceptions import ExpressionFunctionError  # noqa: E402
from st2mistral_plugin.expressions import data  # noqa: E402

CTX = {"__env": {}}
NESTED = {"a": "b", "c": {"d": "e", "f": 1, "g": True, "h": [1, None, {"i": "ü"}]}}


class FrozenMapping:
    """A read-only Mapping that is not a dict, like yaql.language.utils.FrozenDict."""

    def __init__(self, d):
        self._d = d

    def __getitem__(self, key):
        return self._d[key]

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def keys(self):
        return self._d.keys()

    def items(self):
        return self._d.items()


collections.abc.Mapping.register(FrozenMapping)


# from_json_string

def test_from_json_string_nested_and_unicode():
    assert data.from_json_string(CTX, json.dumps(NESTED)) == NESTED
    assert data.from_json_string(CTX, '"\\u00fc"') == "ü"
    assert data.from_json_string(CTX, b'[1, 2]') == [1, 2]


@pytest.mark.parametrize("text,expected", [("null", None), ("3", 3), ("[]", []), ('"x"', "x")])
def test_from_json_string_scalars(text, expected):
    assert data.from_json_string(CTX, text) == expected


@pytest.mark.parametrize("bad", ["", "{a: 1}", "[1,"])
def test_from_json_string_invalid_json_names_the_function(bad):
    with pytest.raises(ExpressionFunctionError, match=r"^from_json_string: invalid JSON"):
        data.from_json_string(CTX, bad)


@pytest.mark.parametrize("bad", [None, 5, {"a": 1}])
def test_from_json_string_non_text_refused(bad):
    with pytest.raises(ExpressionFunctionError, match="expected a JSON string, got"):
        data.from_json_string(CTX, bad)


# from_yaml_string

def test_from_yaml_string_nested():
    assert data.from_yaml_string(CTX, yaml.safe_dump(NESTED, allow_unicode=True)) == NESTED
    assert data.from_yaml_string(CTX, "a: [1, 2]\nb: ü\n") == {"a": [1, 2], "b": "ü"}


def test_from_yaml_string_empty_document_is_null():
    assert data.from_yaml_string(CTX, "") is None


def test_from_yaml_string_is_safe():
    with pytest.raises(ExpressionFunctionError, match="^from_yaml_string: invalid YAML"):
        data.from_yaml_string(CTX, "!!python/object/apply:os.system ['true']")


def test_from_yaml_string_invalid():
    with pytest.raises(ExpressionFunctionError, match="^from_yaml_string: invalid YAML"):
        data.from_yaml_string(CTX, "a: b: c")
    with pytest.raises(ExpressionFunctionError, match="expected a YAML string, got None"):
        data.from_yaml_string(CTX, None)


# to_complex

def test_to_complex_default_separators_and_ascii_escapes():
    assert data.to_complex(CTX, {"a": [1, "ü"]}) == '{"a": [1, "\\u00fc"]}'
    assert json.loads(data.to_complex(CTX, NESTED)) == NESTED


def test_to_complex_none_and_string():
    assert data.to_complex(CTX, None) == "null"
    assert data.to_complex(CTX, "x") == '"x"'


def test_to_complex_unwraps_yaql_frozen_containers():
    value = FrozenMapping({"a": (1, 2), "b": FrozenMapping({"c": frozenset([3])})})
    assert json.loads(data.to_complex(CTX, value)) == {"a": [1, 2], "b": {"c": [3]}}


def test_to_complex_unserializable():
    with pytest.raises(ExpressionFunctionError, match="^to_complex: cannot write the value as JSON"):
        data.to_complex(CTX, object())


# to_json_string

def test_to_json_string_defaults_indent_4_compact_separators():
    assert data.to_json_string(CTX, {"b": 1, "a": [2]}) == '{\n    "b":1,\n    "a":[\n        2\n    ]\n}'


def test_to_json_string_options():
    assert data.to_json_string(CTX, {"b": 1, "a": 2}, indent=None, sort_keys=True) == '{"a":2,"b":1}'
    assert data.to_json_string(CTX, {"a": 1}, indent=None, separators=[", ", ": "]) == '{"a": 1}'
    assert data.to_json_string(CTX, {"a": 1}, indent=None, separators=(",", "=")) == '{"a"=1}'
    assert json.loads(data.to_json_string(CTX, NESTED)) == NESTED


@pytest.mark.parametrize("kwargs,message", [
    ({"separators": ","}, "separators must be two strings"),
    ({"separators": [",", ":", ";"]}, "separators must be two strings"),
    ({"indent": True}, "indent must be"),
    ({"indent": [1]}, "indent must be"),
])
def test_to_json_string_bad_options(kwargs, message):
    with pytest.raises(ExpressionFunctionError, match="^to_json_string: " + message):
        data.to_json_string(CTX, {"a": 1}, **kwargs)


# to_yaml_string

def test_to_yaml_string_block_style_indent_4_unicode_kept():
    out = data.to_yaml_string(CTX, {"a": {"b": ["ü", 1]}})
    assert out == "a:\n    b:\n    - ü\n    - 1\n"
    assert yaml.safe_load(data.to_yaml_string(CTX, NESTED)) == NESTED


def test_to_yaml_string_options_and_frozen_input():
    assert "\\xFC" in data.to_yaml_string(CTX, {"a": "ü"}, allow_unicode=False)
    assert data.to_yaml_string(CTX, {"a": {"b": 1}}, indent=2) == "a:\n  b: 1\n"
    assert yaml.safe_load(data.to_yaml_string(CTX, FrozenMapping({"t": (1, 2)}))) == {"t": [1, 2]}


def test_to_yaml_string_errors():
    with pytest.raises(ExpressionFunctionError, match="^to_yaml_string: cannot write the value as YAML"):
        data.to_yaml_string(CTX, {"a": object()})
    with pytest.raises(ExpressionFunctionError, match="^to_yaml_string: indent must be a number"):
        data.to_yaml_string(CTX, {"a": 1}, indent="2")


# json_escape

@pytest.mark.parametrize("value,expected", [
    ('foo """ bar', 'foo \\"\\"\\" bar'),
    ("foo \\ bar", "foo \\\\ bar"),
    ("foo \b bar", "foo \\b bar"),
    ("foo \f bar", "foo \\f bar"),
    ("foo \n bar", "foo \\n bar"),
    ("foo \r bar", "foo \\r bar"),
    ("foo \t bar", "foo \\t bar"),
    ("", ""),
    ("ü", "\\u00fc"),
])
def test_json_escape_strings(value, expected):
    assert data.json_escape(CTX, value) == expected


def test_json_escape_keeps_escaped_quotes_at_the_ends():
    # st2mistral's strip('"') cut these to 'say \\"hi\\' (a dangling backslash).
    assert data.json_escape(CTX, 'say "hi"') == 'say \\"hi\\"'
    assert data.json_escape(CTX, '"') == '\\"'


def test_json_escape_non_strings_are_their_json():
    assert data.json_escape(CTX, None) == "null"
    assert data.json_escape(CTX, 12) == "12"
    assert data.json_escape(CTX, {"a": "b"}) == '{"a": "b"}'


# jsonpath_query

PEOPLE = {"people": [{"first": "James", "last": "d"}, {"first": "Jacob", "last": "e"},
                     {"first": "Jayden", "last": "f"}, {"missing": "different"}],
          "foo": {"bar": "baz"}}


@pytest.mark.parametrize("query,expected", [
    ("people[*].first", ["James", "Jacob", "Jayden"]),
    ("$.people[*].last", ["d", "e", "f"]),
    ("foo.bar", ["baz"]),
    ("foo", [{"bar": "baz"}]),
    ("people[1].first", ["Jacob"]),
    ("$..bar", ["baz"]),
    ("query_returns_no_results", None),
])
def test_jsonpath_query(query, expected):
    assert data.jsonpath_query(CTX, PEOPLE, query) == expected


def test_jsonpath_query_on_frozen_yaql_data_and_none():
    frozen = FrozenMapping({"a": (FrozenMapping({"b": 1}), FrozenMapping({"b": 2}))})
    assert data.jsonpath_query(CTX, frozen, "a[*].b") == [1, 2]
    assert data.jsonpath_query(CTX, None, "a") is None


def test_jsonpath_query_bad_query():
    with pytest.raises(ExpressionFunctionError, match=r"^jsonpath_query: invalid JSONPath 'a\[\*'"):
        data.jsonpath_query(CTX, PEOPLE, "a[*")
    with pytest.raises(ExpressionFunctionError, match="query must be a string, got int"):
        data.jsonpath_query(CTX, PEOPLE, 5)


# use_none

def test_use_none():
    assert data.use_none(CTX, None) == "%*****__%NONE%__*****%"
    assert data.use_none(CTX, "foobar") == "foobar"
    assert data.use_none(CTX, "") == ""
    assert data.use_none(CTX, 0) == 0
    assert data.use_none(CTX, FrozenMapping({"a": (1,)})) == {"a": [1]}


def test_errors_never_show_the_value():
    secret = "s3cr3t-value"
    with pytest.raises(ExpressionFunctionError) as err:
        data.from_json_string(CTX, {"password": secret})
    assert secret not in str(err.value)
