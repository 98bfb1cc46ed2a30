"""Opt-in StackStorm 3.9 compatibility layer: lets StackStorm treat mistral-v2 as a workflow runner."""
