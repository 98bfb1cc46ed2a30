"""st2mistral_plugin: StackStorm integration loaded by Mistral 23 (st2.action, st2 publisher, st2kv).

Mistral imports this package while loading any of its entry points (expression functions are
loaded by every Mistral service at start), which installs the with-items re-run fix and the
multi-task re-run batch fix, and hides workflow inputs and action results in Mistral's
workflow_trace log (trace_filter).
"""
from st2mistral_plugin import rerun_batch_fix, trace_filter, with_items_fix

__version__ = "0.1.0"

with_items_fix.install()
rerun_batch_fix.install()
trace_filter.install()
