"""oslo.config options of the plugin, group [st2], registered idempotently on Mistral's CONF."""
from __future__ import annotations

import os
from typing import List, Optional, Tuple, Union

from oslo_config import cfg

GROUP = "st2"

OPTS = [
    cfg.StrOpt(
        "mistral_api_url",
        help="Mistral v2 API base URL as StackStorm reaches it (e.g. http://mistral:8989/v2); "
        "used in the callback URL of children started by st2.action. Default: derived from "
        "[api] host/port.",
    ),
    cfg.StrOpt(
        "api_url",
        help="StackStorm API base URL incl. /api/v1; used only when the workflow env "
        "(__actions.st2.action.st2_context.api_url) does not carry one.",
    ),
    cfg.StrOpt(
        "api_key",
        secret=True,
        help="StackStorm API key (St2-Api-Key header) used when the workflow env carries no "
        "auth token. Never logged.",
    ),
    cfg.FloatOpt("auth_cache_ttl", default=10.0, min=0,
                 help="With [DEFAULT] auth_type = st2: seconds a credential StackStorm accepted "
                 "is trusted without asking again (0 = ask on every call). A revoked token stays "
                 "usable at most this long."),
    cfg.StrOpt(
        "cacert",
        help="CA bundle (PEM file) to verify the StackStorm API's TLS certificate, e.g. the "
        "self-signed certificate of an st2 install. Default: the system CAs (and "
        "REQUESTS_CA_BUNDLE).",
    ),
    cfg.BoolOpt(
        "insecure",
        default=False,
        help="Do not verify the StackStorm API's TLS certificate (what st2mistral always did). "
        "Prefer cacert.",
    ),
    cfg.BoolOpt("scrub_credentials", default=True,
                help="Once StackStorm has a workflow's final status, delete the StackStorm token / "
                "API key from its env and st2.action inputs in Mistral's database."),
    cfg.FloatOpt("request_timeout", default=10.0, min=0.1,
                 help="Seconds to wait for one StackStorm API response."),
    cfg.IntOpt("retry_attempts", default=6, min=1,
               help="Attempts per StackStorm API call on connection errors/timeouts/5xx."),
    cfg.IntOpt("retry_exp_msec", default=200, min=1,
               help="First back-off delay (ms); doubles each retry."),
    cfg.IntOpt("retry_exp_max_msec", default=5000, min=1,
               help="Longest back-off delay between two attempts (ms)."),
    cfg.IntOpt("retry_stop_max_msec", default=60000, min=1,
               help="Give up retrying a call after this many ms."),
    cfg.BoolOpt("with_items_fix", default=True,
                help="Apply the fix for with-items re-run with reset=False (see "
                "docs/upstream-with-items-no-reset-bug.md). Env var "
                "ST2MISTRAL_WITH_ITEMS_FIX=0 also disables it."),
    cfg.IntOpt("push_lanes", default=4, min=1,
               help="Background threads pushing workflow status to StackStorm; events of one "
               "root workflow always use the same thread, so they stay in order."),
    cfg.BoolOpt("cascade_subworkflow_pause", default=True,
                help="When a Mistral subworkflow pauses while its root runs, ask StackStorm to "
                "pause the root's execution (PUT {status: pausing})."),
]


def register_opts(conf: cfg.ConfigOpts = cfg.CONF) -> None:
    """Register the [st2] options on `conf`; safe to call many times."""
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> List[Tuple[str, list]]:
    """oslo-config-generator hook."""
    return [(GROUP, OPTS)]


def get(name: str, conf: cfg.ConfigOpts = cfg.CONF):
    """The value of [st2] `name` (options registered on first use)."""
    register_opts(conf)
    return getattr(conf.st2, name)


def with_items_fix_enabled(conf: cfg.ConfigOpts = cfg.CONF) -> bool:
    """True unless the fix is switched off by the env var or [st2] with_items_fix."""
    if os.environ.get("ST2MISTRAL_WITH_ITEMS_FIX", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        return bool(get("with_items_fix", conf))
    except cfg.Error:  # config not parsed yet (e.g. plain import in a unit test)
        return True


def tls_verify(conf: cfg.ConfigOpts = cfg.CONF) -> Union[bool, str]:
    """`verify` for requests: False with [st2] insecure, else the [st2] cacert path, else True."""
    if get("insecure", conf):
        return False
    return get("cacert", conf) or True


def mistral_api_url(conf: cfg.ConfigOpts = cfg.CONF) -> Optional[str]:
    """Base URL of this Mistral's v2 API: [st2] mistral_api_url or built from [api] host/port."""
    url = get("mistral_api_url", conf)
    if url:
        return url.rstrip("/")
    try:
        api = conf.api
        host, port = api.host, api.port
        scheme = "https" if getattr(api, "enable_ssl_api", False) else "http"
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError, AttributeError):
        return None
    if not host or host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    return "%s://%s:%s/v2" % (scheme, host, port)
