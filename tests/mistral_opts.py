"""A fresh `[mistral]` option group (the runner's options, defaults) with overrides, for tests."""
from __future__ import annotations

from typing import Any

from oslo_config import cfg

from mistral_v2 import config


def mistral_opts(**overrides: Any) -> Any:
    """The `[mistral]` group of a new ConfigOpts with the runner's options and `overrides` set."""
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf([], project="test")
    for name, value in overrides.items():
        conf.set_override(name, value, "mistral")
    return conf.mistral
