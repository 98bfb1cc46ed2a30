"""Regular-expression functions (Python `re` syntax); a non-string value is matched as str(value)."""
from __future__ import annotations

import re
from typing import Any, List, Pattern, Union

from st2mistral_plugin.expressions.base import expression_function, fail, type_name


def _compile(function: str, pattern: Any, ignorecase: bool) -> Pattern[str]:
    if not isinstance(pattern, str):
        fail(function, "pattern must be a string, got %s" % type_name(pattern))
    try:
        return re.compile(pattern, re.IGNORECASE if ignorecase else 0)
    except re.error as exc:
        fail(function, "invalid pattern %r: %s" % (pattern, exc))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


@expression_function
def regex_match(context: Any, value: Any, pattern: str = "", ignorecase: bool = False) -> bool:
    """True when `pattern` matches at the start of `value`."""
    return _compile("regex_match", pattern, ignorecase).match(_text(value)) is not None


@expression_function
def regex_search(context: Any, value: Any, pattern: str = "", ignorecase: bool = False) -> bool:
    """True when `pattern` matches anywhere in `value`."""
    return _compile("regex_search", pattern, ignorecase).search(_text(value)) is not None


@expression_function
def regex_replace(context: Any, value: Any = "", pattern: str = "", replacement: str = "",
                  ignorecase: bool = False) -> str:
    """`value` with every match of `pattern` replaced by `replacement` (\\1 refers to group 1)."""
    if not isinstance(replacement, str):
        fail("regex_replace", "replacement must be a string, got %s" % type_name(replacement))
    regex = _compile("regex_replace", pattern, ignorecase)
    try:
        return regex.sub(replacement, _text(value))
    except (re.error, IndexError) as exc:
        fail("regex_replace", "invalid replacement %r: %s" % (replacement, exc))


@expression_function
def regex_substring(context: Any, value: Any, pattern: str = "", result_index: int = 0,
                    ignorecase: bool = False) -> Union[str, List[str]]:
    """Match number `result_index` (0 = first) of `pattern` in `value`: its group(s) if it has any."""
    if isinstance(result_index, bool) or not isinstance(result_index, int):
        fail("regex_substring", "result_index must be an integer, got %s" % type_name(result_index))
    found = _compile("regex_substring", pattern, ignorecase).findall(_text(value))
    if not -len(found) <= result_index < len(found):
        fail("regex_substring", "no match number %d for pattern %r (%d match%s)"
             % (result_index, pattern, len(found), "" if len(found) == 1 else "es"))
    match = found[result_index]
    return list(match) if isinstance(match, tuple) else match
