"""st2mistral-plugin: the Mistral-side half of st2-mistral (st2.action, st2 publisher, st2kv, with-items fix)."""
from setuptools import setup

setup(
    name="st2mistral-plugin",
    version="0.1.0",
    description="StackStorm integration plugin for OpenStack Mistral 23 (installed into Mistral's venv)",
    license="Apache License (2.0)",
    python_requires=">=3.8",
    packages=["st2mistral_plugin"],
    zip_safe=False,
    # Mistral itself brings oslo.config, oslo.log, mistral-lib, requests, tenacity and PyYAML.
    # The runner package `mistral_v2` (distribution st2-mistral, repo root) must be installed
    # into the same venv: `pip install --no-deps <repo root>`.
    install_requires=["requests>=2.25.1", "tenacity>=6.0.0", "PyYAML>=5.4"],
    entry_points={
        "mistral.actions": ["st2.action = st2mistral_plugin.action:St2Action"],
        "mistral.notification.publishers": ["st2 = st2mistral_plugin.publisher:St2Publisher"],
        "mistral.expression.functions": ["st2kv = st2mistral_plugin.functions:st2kv_"],
        "oslo.config.opts": ["st2mistral_plugin = st2mistral_plugin.config:list_opts"],
    },
)
