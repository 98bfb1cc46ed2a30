"""Unit tests of the regex and time expression functions (st2mistral semantics, clear errors)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "st2mistral_plugin"))

from mistral_v2.exceptions import ExpressionFunctionError  # noqa: E402
from st2mistral_plugin.expressions import regex, time  # noqa: E402

CTX = {"__env": {}}
VERSION_RE = r"^v(\d+\.)?(\d+\.)?(\*|\d+)$"
ADDRESS_RE = r"([0-9]{3} \w+ (?:Ave|St|Dr))"


# regex_match (anchored at the start)

@pytest.mark.parametrize("value,pattern,kwargs,expected", [
    ("xyz", "x", {}, True),
    ("xyz", "y", {}, False),
    ("v0.10.1", VERSION_RE, {}, True),
    ("XYZ", "x", {}, False),
    ("XYZ", "x", {"ignorecase": True}, True),
    ("", "", {}, True),
    ("ünïcode", "ün", {}, True),
    (123, "12", {}, True),          # non-strings are matched as str(value)
    (None, "None", {}, True),
    ({"a": 1}, "{'a'", {}, True),
])
def test_regex_match(value, pattern, kwargs, expected):
    assert regex.regex_match(CTX, value, pattern, **kwargs) is expected


# regex_search (anywhere)

@pytest.mark.parametrize("value,pattern,kwargs,expected", [
    ("xyz", "x", {}, True),
    ("xyz", "y", {}, True),
    ("xyz", "a", {}, False),
    ("v0.10.1", VERSION_RE, {}, True),
    ("aXb", "x", {"ignorecase": True}, True),
    (4.5, r"\.5$", {}, True),
])
def test_regex_search(value, pattern, kwargs, expected):
    assert regex.regex_search(CTX, value, pattern, **kwargs) is expected


# regex_replace

@pytest.mark.parametrize("value,pattern,replacement,kwargs,expected", [
    ("xyz", "x", "y", {}, "yyz"),
    ("blue socks and red shoes", "(blue|white|red)", "color", {}, "color socks and color shoes"),
    ("John Smith", r"(\w+) (\w+)", r"\2, \1", {}, "Smith, John"),
    ("ABC abc", "abc", "-", {"ignorecase": True}, "- -"),
    ("no match", "zzz", "y", {}, "no match"),
    ("", "x", "y", {}, ""),
    (12, "1", "0", {}, "02"),
])
def test_regex_replace(value, pattern, replacement, kwargs, expected):
    assert regex.regex_replace(CTX, value, pattern, replacement, **kwargs) == expected


def test_regex_replace_bad_group_reference():
    with pytest.raises(ExpressionFunctionError, match=r"^regex_replace: invalid replacement '\\\\3'"):
        regex.regex_replace(CTX, "ab", "(a)", r"\3")


# regex_substring

def test_regex_substring_first_and_nth_match():
    assert regex.regex_substring(
        CTX, "My address is 123 Somewhere Ave. See you soon!", ADDRESS_RE) == "123 Somewhere Ave"
    assert regex.regex_substring(
        CTX, "You are at 567 Elsewhere Dr. Im at 123 Foo Ave.", ADDRESS_RE, 1) == "123 Foo Ave"
    assert regex.regex_substring(
        CTX, "You are at 567 Elsewhere Dr. Im at 123 Foo Ave.", ADDRESS_RE, -1) == "123 Foo Ave"


def test_regex_substring_without_groups_and_with_several_groups():
    assert regex.regex_substring(CTX, "a1 b2 c3", r"\w\d", 2) == "c3"
    assert regex.regex_substring(CTX, "a1 b2", r"(\w)(\d)", 1) == ["b", "2"]
    assert regex.regex_substring(CTX, "ABC", "b", 0, True) == "B"


@pytest.mark.parametrize("value,index", [
    ("Your address is 567 Elsewhere Dr.", 1),       # second match does not exist
    ("My address is 986 Somewhere Ave. See you soon!", 0),  # no match at all (pattern [0-3])
])
def test_regex_substring_missing_match(value, index):
    pattern = ADDRESS_RE if index else r"([0-3]{3} \w+ (?:Ave|St|Dr))"
    with pytest.raises(ExpressionFunctionError, match="^regex_substring: no match number %d" % index):
        regex.regex_substring(CTX, value, pattern, index)


def test_regex_substring_bad_index():
    with pytest.raises(ExpressionFunctionError, match="result_index must be an integer, got str"):
        regex.regex_substring(CTX, "abc", "a", "1")


@pytest.mark.parametrize("function", [regex.regex_match, regex.regex_search, regex.regex_substring])
def test_invalid_pattern_is_named(function):
    with pytest.raises(ExpressionFunctionError, match=r"^%s: invalid pattern '\('" % function.__name__):
        function(CTX, "abc", "(")


def test_non_string_pattern():
    with pytest.raises(ExpressionFunctionError, match="^regex_search: pattern must be a string, got None"):
        regex.regex_search(CTX, "abc", None)


# to_human_time_from_seconds

@pytest.mark.parametrize("seconds,expected", [
    (12345, "3h25m45s"),
    (0, "0s"),
    (0.0, "0s"),
    (1, "1s"),
    (59, "59s"),
    (60, "1m0s"),
    (3601, "1h0m1s"),
    (86400, "1d0h0m0s"),
    (90061, "1d1h1m1s"),
    (40 * 86400, "40d0h0m0s"),            # st2mistral said 9d0h0m0s (it dropped whole months)
    (365 * 86400 + 5, "1y0d0h0m5s"),
    (2.4, "2s"),
    (2.6, "3s"),
    (0.5, "0.5\u03bcs"),                  # st2mistral's output below one second, kept
    (-5, "-5\u03bcs"),
])
def test_to_human_time_from_seconds(seconds, expected):
    assert time.to_human_time_from_seconds(CTX, seconds) == expected


@pytest.mark.parametrize("bad,message", [
    ("stuff", "seconds must be a number, got str"),
    (None, "seconds must be a number, got None"),
    ([1], "seconds must be a number, got list"),
    (float("inf"), "seconds must be a finite number"),
    (float("nan"), "seconds must be a finite number"),
])
def test_to_human_time_from_seconds_refuses(bad, message):
    with pytest.raises(ExpressionFunctionError, match="^to_human_time_from_seconds: " + message):
        time.to_human_time_from_seconds(CTX, bad)
