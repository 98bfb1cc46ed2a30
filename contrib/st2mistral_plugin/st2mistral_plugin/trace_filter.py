"""Keeps data out of Mistral's `workflow_trace` log: inputs, results and messages become <hidden>.

Mistral 23 logs a workflow's input ("Starting workflow [name=..., input=...]"), every action's
result ("Action '...' [RUNNING -> SUCCESS, <result>]") and state messages at INFO on this logger,
secrets included. The filter keeps names, ids and state transitions (what operators and
bench/common.py read) and hides the payload. Installed when Mistral imports the plugin.
"""
from __future__ import annotations

import logging
import re

HIDDEN = "<hidden by st2mistral>"
LOGGER = "workflow_trace"

_SUFFIX = re.compile(r"( \((?:execution_id|wf_ex_id)=[^()]*\))$")
_STARTING = re.compile(r"^(Starting workflow \[name=[^,\]]*, input=).*(\])$", re.S)
_TRANSITION = re.compile(r"^(.*\[\w+ -> \w+, )(?:msg=)?.*(\])$", re.S)


def hide_payload(message: str) -> str:
    """`message` with its input / result / state message replaced by HIDDEN."""
    suffix = _SUFFIX.search(message)
    head = message[:suffix.start()] if suffix else message
    tail = suffix.group(1) if suffix else ""
    for pattern in (_STARTING, _TRANSITION):
        found = pattern.match(head)
        if found:
            return found.group(1) + HIDDEN + found.group(2) + tail
    return message


class TraceFilter(logging.Filter):
    """Rewrites each workflow_trace record with `hide_payload`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the formatter's problem
            return True
        hidden = hide_payload(message)
        if hidden != message:
            record.msg, record.args = hidden, ()
        return True


def install() -> None:
    """Add the filter to Mistral's workflow trace logger (once)."""
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(f, TraceFilter) for f in logger.filters):
        logger.addFilter(TraceFilter())
