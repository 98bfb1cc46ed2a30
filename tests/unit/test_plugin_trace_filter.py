"""The plugin's workflow_trace filter hides inputs, results and messages, keeps states and ids."""
from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "st2mistral_plugin"))

from st2mistral_plugin import trace_filter  # noqa: E402
from st2mistral_plugin.trace_filter import HIDDEN  # noqa: E402

EX = "0b1c2d3e-1111-2222-3333-444455556666"


def test_payloads_hidden_transitions_and_ids_kept():
    h = trace_filter.hide_payload
    assert h("Starting workflow [name=a.b, input={'pw': 'se]cret'}] (execution_id=%s,task_ex_id=None)" % EX) == (
        "Starting workflow [name=a.b, input=%s] (execution_id=%s,task_ex_id=None)" % (HIDDEN, EX))
    line = h("Workflow 'a.b' [RUNNING -> SUCCESS, msg=pw was secret] (execution_id=%s,task_ex_id=None)" % EX)
    assert "secret" not in line
    bench = re.compile(r"Workflow '[^']*' \[\w+ -> (\w+)\b.*\(execution_id=([0-9a-f-]{36})")
    assert bench.search(line).groups() == ("SUCCESS", EX)  # what bench/common.py reads
    assert h("Action 'std.echo' (1)(task_name=t, task_ex_id=2) [RUNNING -> SUCCESS, Result [data={'n': 's'}]]") \
        == "Action 'std.echo' (1)(task_name=t, task_ex_id=2) [RUNNING -> SUCCESS, %s]" % HIDDEN
    assert h("Task 't' (1) [RUNNING -> ERROR, msg=Failed: s] (wf_ex_id=w, task_ex_id=t)") == (
        "Task 't' (1) [RUNNING -> ERROR, %s] (wf_ex_id=w, task_ex_id=t)" % HIDDEN)
    assert h("something else [x]") == "something else [x]"


def test_installed_filter_rewrites_records(caplog):
    trace_filter.install()
    trace_filter.install()
    logger = logging.getLogger(trace_filter.LOGGER)
    assert sum(isinstance(f, trace_filter.TraceFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger=trace_filter.LOGGER):
        logger.info("Starting workflow [name=w, input=%s]" % {"pw": "Sekrit-123"})
    assert "Sekrit-123" not in caplog.text and HIDDEN in caplog.text
