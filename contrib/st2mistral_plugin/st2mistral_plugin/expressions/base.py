"""What every expression function shares: Jinja filter support, YAQL value unwrapping, one error type."""
from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any, Callable, NoReturn, TypeVar

import jinja2

from mistral_v2.exceptions import ExpressionFunctionError

F = TypeVar("F", bound=Callable[..., Any])


def expression_function(func: F) -> F:
    """Mark `func(context, value, ...)` so Mistral's Jinja filter form `value | func(...)` works too.

    Mistral registers every custom function as a Jinja filter as well, calling it with the filtered
    value first; with the mark Jinja passes its own context first instead, as the function form does.
    """
    return jinja2.pass_context(func)


def plain(value: Any) -> Any:
    """`value` with YAQL's frozen containers (FrozenDict, tuple, frozenset) as plain dict and list."""
    if value is None or isinstance(value, (str, bytes, int, float)):
        return value
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, Set)):
        return [plain(item) for item in value]
    return value


def type_name(value: Any) -> str:
    """A value's kind for error messages (values themselves may be secrets, so they are not shown)."""
    return "None" if value is None else type(value).__name__


def fail(function: str, problem: str) -> NoReturn:
    """Raise the error Mistral shows in the task's state_info: '<function>: <problem>'."""
    raise ExpressionFunctionError("%s: %s" % (function, problem))
