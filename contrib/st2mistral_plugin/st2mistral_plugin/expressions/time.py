"""Time functions: to_human_time_from_seconds (12345 -> '3h25m45s')."""
from __future__ import annotations

import math
from typing import Any, List, Union

from st2mistral_plugin.expressions.base import expression_function, fail, type_name

_UNITS = (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@expression_function
def to_human_time_from_seconds(context: Any, seconds: Union[int, float]) -> str:
    """A duration as '1y2d3h4m5s' from its largest non-zero unit (floats rounded; < 1 as st2mistral)."""
    if not isinstance(seconds, (int, float)):
        fail("to_human_time_from_seconds", "seconds must be a number, got %s" % type_name(seconds))
    if not math.isfinite(seconds):
        fail("to_human_time_from_seconds", "seconds must be a finite number, got %r" % seconds)
    if seconds == 0:
        return "0s"
    if seconds < 1:
        # st2mistral's output for values below one second (and negative ones), kept as it was.
        return "%s\u03bcs" % seconds
    remaining = int(round(seconds))
    parts: List[int] = []
    for _, size in _UNITS:
        parts.append(remaining // size)
        remaining %= size
    first = next(i for i, amount in enumerate(parts) if amount)
    return "".join("%d%s" % (amount, unit) for (unit, _), amount in zip(_UNITS[first:], parts[first:]))
