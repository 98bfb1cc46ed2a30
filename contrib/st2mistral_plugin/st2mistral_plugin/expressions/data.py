"""Data functions: JSON/YAML parsing and dumping, json_escape, jsonpath_query and use_none."""
from __future__ import annotations

import json
from typing import Any, Optional, Sequence, Union

import jsonpath_ng
import yaml
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError

from st2mistral_plugin.expressions.base import expression_function, fail, plain, type_name

# StackStorm turns this string back into None when it casts a typed action parameter.
NONE_MAGIC_VALUE = "%*****__%NONE%__*****%"

_TEXT = (str, bytes, bytearray)


def _dumps(function: str, value: Any, **options: Any) -> str:
    try:
        return json.dumps(plain(value), **options)
    except (TypeError, ValueError) as exc:
        fail(function, "cannot write the value as JSON: %s" % exc)


@expression_function
def from_json_string(context: Any, value: Union[str, bytes]) -> Any:
    """The data in JSON text `value`: from_json_string('{"a": 1}') -> {a: 1}."""
    if not isinstance(value, _TEXT):
        fail("from_json_string", "expected a JSON string, got %s" % type_name(value))
    try:
        return json.loads(value)
    except ValueError as exc:
        fail("from_json_string", "invalid JSON: %s" % exc)


@expression_function
def from_yaml_string(context: Any, value: Union[str, bytes]) -> Any:
    """The data in YAML text `value` (safe_load; an empty document gives null)."""
    if not isinstance(value, _TEXT):
        fail("from_yaml_string", "expected a YAML string, got %s" % type_name(value))
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        fail("from_yaml_string", "invalid YAML: %s" % " ".join(str(exc).split()))


@expression_function
def to_complex(context: Any, value: Any) -> str:
    """`value` as compact one-line JSON with the default separators (', ' and ': ')."""
    return _dumps("to_complex", value)


@expression_function
def to_json_string(context: Any, value: Any, indent: Optional[int] = 4, sort_keys: bool = False,
                   separators: Sequence[str] = (",", ":")) -> str:
    """`value` as JSON: indent 4, keys in their order, separators ',' and ':' unless given."""
    if not isinstance(separators, (list, tuple)) or len(separators) != 2 \
            or not all(isinstance(s, str) for s in separators):
        fail("to_json_string", "separators must be two strings, e.g. [',', ': ']")
    if indent is not None and (isinstance(indent, bool) or not isinstance(indent, (int, str))):
        fail("to_json_string", "indent must be a number, a string or null, got %s" % type_name(indent))
    return _dumps("to_json_string", value, indent=indent, sort_keys=bool(sort_keys),
                  separators=tuple(separators))


@expression_function
def to_yaml_string(context: Any, value: Any, indent: int = 4, allow_unicode: bool = True) -> str:
    """`value` as block-style YAML (safe_dump), indent 4, non-ASCII kept as is unless told."""
    if isinstance(indent, bool) or not isinstance(indent, int):
        fail("to_yaml_string", "indent must be a number, got %s" % type_name(indent))
    try:
        return yaml.safe_dump(plain(value), indent=indent, allow_unicode=bool(allow_unicode),
                              default_flow_style=False)
    except yaml.YAMLError as exc:
        fail("to_yaml_string", "cannot write the value as YAML: %s" % exc)


@expression_function
def json_escape(context: Any, value: Any) -> str:
    """`value` escaped for use inside a JSON string literal (quotes, backslashes, control chars)."""
    text = _dumps("json_escape", value)
    # A string's own enclosing quotes go; an escaped quote at either end stays (\").
    return text[1:-1] if isinstance(value, str) else text


@expression_function
def jsonpath_query(context: Any, value: Any, query: str) -> Optional[list]:
    """The values matching JSONPath `query` in `value` as a list, or null when nothing matches."""
    if not isinstance(query, str):
        fail("jsonpath_query", "query must be a string, got %s" % type_name(query))
    try:
        expression = jsonpath_ng.parse(query)
    except (JsonPathLexerError, JsonPathParserError, ValueError) as exc:
        fail("jsonpath_query", "invalid JSONPath %r: %s" % (query, exc))
    matches = [match.value for match in expression.find(plain(value))]
    return matches or None


@expression_function
def use_none(context: Any, value: Any) -> Any:
    """`value`, or for null the marker StackStorm turns back into null in a typed action parameter."""
    return NONE_MAGIC_VALUE if value is None else plain(value)
