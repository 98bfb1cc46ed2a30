"""Unit tests of the semantic-version expression functions (st2mistral semantics, clear errors)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "st2mistral_plugin"))

from mistral_v2.exceptions import ExpressionFunctionError  # noqa: E402
from st2mistral_plugin.expressions import version  # noqa: E402

CTX = {"__env": {}}


@pytest.mark.parametrize("value,other,expected", [
    ("0.9.0", "0.10.0", -1),
    ("0.10.1", "0.10.0", 1),
    ("0.10.0", "0.10.0", 0),
    ("1.0.0-alpha", "1.0.0", -1),          # a pre-release is lower than its release
    ("1.0.0-alpha", "1.0.0-alpha.1", -1),
    ("1.0.0-alpha.1", "1.0.0-alpha.beta", -1),
    ("1.0.0-beta.2", "1.0.0-beta.11", -1),  # numeric identifiers compare as numbers
    ("1.0.0-rc.1", "1.0.0-beta.11", 1),
    ("1.0.0+build.5", "1.0.0+build.1", 0),  # build metadata is ignored
    ("10.0.0", "9.99.99", 1),
])
def test_version_compare_and_the_three_predicates(value, other, expected):
    assert version.version_compare(CTX, value, other) == expected
    assert version.version_more_than(CTX, value, other) is (expected == 1)
    assert version.version_less_than(CTX, value, other) is (expected == -1)
    assert version.version_equal(CTX, value, other) is (expected == 0)


@pytest.mark.parametrize("value,pattern,expected", [
    ("0.10.1", ">0.10.0", True),
    ("0.1.1", ">0.10.0", False),
    ("0.1.0", "<0.10.0", True),
    ("1.1.0", "<0.10.0", False),
    ("0.10.0", "==0.10.0", True),
    ("0.10.1", "==0.10.0", False),
    ("0.10.0", ">=0.10.0", True),
    ("0.10.0", "<=0.9.9", False),
    ("0.10.0", "!=0.10.0", False),
    ("1.0.0-rc.1", "<1.0.0", True),
])
def test_version_match(value, pattern, expected):
    assert version.version_match(CTX, value, pattern) is expected


def test_version_match_bad_pattern():
    with pytest.raises(ExpressionFunctionError, match="^version_match: "):
        version.version_match(CTX, "1.0.0", "~>1.0")
    with pytest.raises(ExpressionFunctionError, match="pattern must be a string"):
        version.version_match(CTX, "1.0.0", None)


@pytest.mark.parametrize("value,major,minor,patch,stripped", [
    ("0.10.1", "1.0.0", "0.11.0", "0.10.2", "0.10"),
    ("1.2.3-rc.1+build.7", "2.0.0", "1.3.0", "1.2.4", "1.2"),
    ("0.0.0", "1.0.0", "0.1.0", "0.0.1", "0.0"),
])
def test_bumps_and_strip(value, major, minor, patch, stripped):
    assert version.version_bump_major(CTX, value) == major
    assert version.version_bump_minor(CTX, value) == minor
    assert version.version_bump_patch(CTX, value) == patch
    assert version.version_strip_patch(CTX, value) == stripped


ALL = [version.version_compare, version.version_more_than, version.version_less_than,
       version.version_equal, version.version_match]
ONE_ARG = [version.version_bump_major, version.version_bump_minor, version.version_bump_patch,
           version.version_strip_patch]


@pytest.mark.parametrize("bad", ["1.0", "v1.0.0", "", "1.0.0.0", "01.0.0"])
@pytest.mark.parametrize("function", ONE_ARG)
def test_invalid_versions_are_named(function, bad):
    with pytest.raises(ExpressionFunctionError,
                       match="^%s: %r is not a valid semantic version" % (function.__name__, bad)):
        function(CTX, bad)


@pytest.mark.parametrize("function", ALL)
def test_two_argument_functions_check_both_sides(function):
    with pytest.raises(ExpressionFunctionError, match="^%s: " % function.__name__):
        function(CTX, "1.0", ">1.0.0" if function is version.version_match else "1.0.0")
    if function is not version.version_match:
        with pytest.raises(ExpressionFunctionError, match="'bad' is not a valid semantic version"):
            function(CTX, "1.0.0", "bad")


@pytest.mark.parametrize("bad", [None, 1, 1.0])
def test_non_string_versions(bad):
    with pytest.raises(ExpressionFunctionError, match="expected a version string like '1.2.3', got"):
        version.version_bump_patch(CTX, bad)
