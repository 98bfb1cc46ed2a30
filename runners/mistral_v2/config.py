"""oslo.config options of the `[mistral]` group (StackStorm's historic names plus ours)."""
from __future__ import annotations

import urllib.parse
from typing import Any, List, Optional

from oslo_config import cfg

GROUP = "mistral"

HISTORIC_OPTS: List[cfg.Opt] = [
    cfg.StrOpt("v2_base_url", default="http://127.0.0.1:8989/v2",
               help="Mistral v2 API server root endpoint."),
    cfg.StrOpt("api_url", default=None,
               help="StackStorm API URL Mistral uses to talk back. As in StackStorm <= 3.2 a base "
                    "URL without the API version (e.g. http://127.0.0.1:9101 or "
                    "https://st2.example.com/api; /v1 is appended); a URL already ending in /v1 "
                    "(e.g. .../api/v1) is used as it is."),
    cfg.StrOpt("keystone_username", default=None, help="Username for Keystone authentication."),
    cfg.StrOpt("keystone_password", default=None, secret=True,
               help="Password for Keystone authentication."),
    cfg.StrOpt("keystone_project_name", default=None, help="Project name for Keystone."),
    cfg.StrOpt("keystone_auth_url", default=None, help="Auth endpoint for Keystone."),
    cfg.StrOpt("cacert", default=None, help="Optional CA certificate to verify Mistral's TLS."),
    cfg.BoolOpt("insecure", default=False, help="Do not verify Mistral's TLS certificate."),
    cfg.IntOpt("retry_exp_msec", default=1000, min=0,
               help="Multiplier (ms) of the exponential backoff between retries."),
    cfg.IntOpt("retry_exp_max_msec", default=300000, min=0,
               help="Maximum wait (ms) between two retries."),
    cfg.IntOpt("retry_stop_max_msec", default=600000, min=0,
               help="Give up retrying a call this many ms after its first attempt (StackStorm's "
                    "stop rule); see also retry_attempts."),
    cfg.FloatOpt("jitter_interval", default=0.1, min=0,
                 help="Seconds (a float, as in StackStorm): a random 0..value wait added to every "
                      "backoff wait between two attempts."),
    cfg.BoolOpt("enable_polling", default=False,
                help="Poll Mistral for results instead of letting Mistral push them."),
]

OUR_OPTS: List[cfg.Opt] = [
    cfg.StrOpt("api_key", default=None, secret=True,
               help="StackStorm API key sent to Mistral (St2-Api-Key) when Mistral authenticates "
               "with StackStorm ([DEFAULT] auth_type = st2); without it the runner sends the "
               "execution's own token and the reconciler/callbacks send nothing."),
    cfg.IntOpt("retry_attempts", default=None, min=1,
               help="Optional extra limit: at most this many attempts of one call (connection "
                    "errors, timeouts, 5xx). Unset (default): only retry_stop_max_msec stops "
                    "the retries, as in StackStorm."),
    cfg.FloatOpt("request_timeout", default=30.0, min=0.1,
                 help="Seconds to wait for one HTTP answer from Mistral."),
    cfg.FloatOpt("query_interval", default=5.0, min=0.1,
                 help="Seconds between two reconciler query cycles."),
    cfg.IntOpt("query_batch_size", default=100, min=1,
               help="Executions queried in one Mistral listing call."),
    cfg.IntOpt("unreachable_grace_period", default=300, min=0,
               help="Seconds Mistral may stay unreachable before executions are failed."),
    cfg.IntOpt("max_result_size", default=1048576, min=1024,
               help="Bytes (JSON) above which a workflow result is truncated with a marker."),
    cfg.StrOpt("result_format", default="st2", choices=("st2", "nested"),
               help="Shape of a workflow's result: 'st2' = StackStorm's mistral_v2 runner (output "
                    "keys at the top, extra: {state, state_info}, the root workflow's tasks); "
                    "'nested' = {output | error, state_info, tasks incl. sub-workflow tasks}."),
]

ALL_OPTS: List[cfg.Opt] = HISTORIC_OPTS + OUR_OPTS

_MARK = "_mistral_v2_opts_registered"  # set on each ConfigOpts once our options are in


def register_opts(conf: cfg.ConfigOpts = cfg.CONF) -> None:
    """Register every `[mistral]` option once; options StackStorm already registered are kept."""
    if vars(conf).get(_MARK):
        return
    group = cfg.OptGroup(GROUP, title="Mistral runner options")
    conf.register_group(group)
    for opt in ALL_OPTS:
        try:
            conf.register_opt(opt, group=GROUP)
        except cfg.DuplicateOptError:
            pass  # Same name registered by st2 with a different help text/default: keep theirs.
    vars(conf)[_MARK] = True


def st2_api_url(value: Optional[str]) -> Optional[str]:
    """The StackStorm API URL (with its version) for a `[mistral] api_url` value.

    StackStorm <= 3.2 took a base URL without version and appended "/v1"
    (http://127.0.0.1:9101 -> http://127.0.0.1:9101/v1, https://host/api -> https://host/api/v1);
    a value whose path already ends in /v1 (http://host/api/v1, http://host:9101/v1) is kept.
    """
    if value is None or not str(value).strip():
        return None
    url = str(value).strip().rstrip("/")
    path = urllib.parse.urlsplit(url).path
    return url if path.endswith("/v1") else url + "/v1"


def get(conf: cfg.ConfigOpts = cfg.CONF) -> Any:
    """The `[mistral]` group of `conf`, registering the options first if needed."""
    register_opts(conf)
    return getattr(conf, GROUP)
