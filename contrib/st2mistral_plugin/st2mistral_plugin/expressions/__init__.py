"""st2mistral's expression functions for YAQL and Jinja: data, regex, version and time (st2kv: ../functions.py)."""
