"""Semantic-version functions (semver.org 2.0 via the `semver` library): compare, match, bump, strip."""
from __future__ import annotations

from typing import Any

import semver

from st2mistral_plugin.expressions.base import expression_function, fail, type_name


def _parse(function: str, value: Any) -> semver.Version:
    if not isinstance(value, str):
        fail(function, "expected a version string like '1.2.3', got %s" % type_name(value))
    try:
        return semver.Version.parse(value)
    except ValueError:
        fail(function, "%r is not a valid semantic version (MAJOR.MINOR.PATCH[-pre][+build])"
             % value[:80])


def _compare(function: str, value: Any, other: Any) -> int:
    return _parse(function, value).compare(_parse(function, other))


@expression_function
def version_compare(context: Any, value: str, pattern: str) -> int:
    """-1, 0 or 1 as `value` is lower than, equal to or higher than `pattern` (build ignored)."""
    return _compare("version_compare", value, pattern)


@expression_function
def version_more_than(context: Any, value: str, pattern: str) -> bool:
    """True when `value` is a higher version than `pattern`."""
    return _compare("version_more_than", value, pattern) == 1


@expression_function
def version_less_than(context: Any, value: str, pattern: str) -> bool:
    """True when `value` is a lower version than `pattern`."""
    return _compare("version_less_than", value, pattern) == -1


@expression_function
def version_equal(context: Any, value: str, pattern: str) -> bool:
    """True when `value` and `pattern` are the same version (build metadata ignored)."""
    return _compare("version_equal", value, pattern) == 0


@expression_function
def version_match(context: Any, value: str, pattern: str) -> bool:
    """True when `value` satisfies `pattern`: an operator (>, <, >=, <=, ==, !=) and a version."""
    version = _parse("version_match", value)
    if not isinstance(pattern, str):
        fail("version_match", "pattern must be a string like '>=1.2.3', got %s" % type_name(pattern))
    try:
        return version.match(pattern)
    except ValueError as exc:
        fail("version_match", "invalid pattern %r: %s" % (pattern[:80], exc))


@expression_function
def version_bump_major(context: Any, value: str) -> str:
    """The next major version: 1.2.3 -> 2.0.0 (pre-release and build dropped)."""
    return str(_parse("version_bump_major", value).bump_major())


@expression_function
def version_bump_minor(context: Any, value: str) -> str:
    """The next minor version: 1.2.3 -> 1.3.0 (pre-release and build dropped)."""
    return str(_parse("version_bump_minor", value).bump_minor())


@expression_function
def version_bump_patch(context: Any, value: str) -> str:
    """The next patch version: 1.2.3 -> 1.2.4 (pre-release and build dropped)."""
    return str(_parse("version_bump_patch", value).bump_patch())


@expression_function
def version_strip_patch(context: Any, value: str) -> str:
    """MAJOR.MINOR of `value`: 1.2.3-rc.1 -> 1.2."""
    version = _parse("version_strip_patch", value)
    return "%d.%d" % (version.major, version.minor)
