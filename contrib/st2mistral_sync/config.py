"""oslo.config options of st2mistral-sync, group `[mistral_sync]` of StackStorm's st2.conf."""
from __future__ import annotations

import os
from typing import Any, List

from oslo_config import cfg

GROUP = "mistral_sync"
PACKAGED_LOGGING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "logging.conf")

OPTS: List[cfg.Opt] = [
    cfg.StrOpt("logging", default=PACKAGED_LOGGING,
               help="Logging configuration file (StackStorm's format); the packaged one logs to stdout."),
    cfg.StrOpt("api_url", default=None,
               help="StackStorm API (incl. /v1 or /api/v1); default: [mistral] api_url, else [auth] api_url + v1."),
    cfg.StrOpt("api_key", default=None, secret=True,
               help="StackStorm API key the service uses (env ST2_API_KEY when unset)."),
    cfg.StrOpt("group", default="st2mistral-sync",
               help="tooz group the instances join to split the work ([coordination] url)."),
    cfg.FloatOpt("membership_timeout", default=None, min=1.0,
                 help="Seconds after which a silent instance's share goes to the others; "
                      "default: half of [mistral] query_interval (never under 2)."),
]


def register_opts(conf: cfg.ConfigOpts = cfg.CONF) -> None:
    """Register `[mistral_sync]` once."""
    if GROUP in conf:
        return
    conf.register_group(cfg.OptGroup(GROUP, title="st2mistral-sync options"))
    conf.register_opts(OPTS, group=GROUP)


def get(conf: cfg.ConfigOpts = cfg.CONF) -> Any:
    """The `[mistral_sync]` group of `conf`."""
    register_opts(conf)
    return getattr(conf, GROUP)
