"""oslo.config options of the `[mistral]` group (StackStorm's historic names plus ours)."""
from __future__ import annotations

from typing import Any, List

from oslo_config import cfg

GROUP = "mistral"

HISTORIC_OPTS: List[cfg.Opt] = [
    cfg.StrOpt("v2_base_url", default="http://127.0.0.1:8989/v2",
               help="Mistral v2 API server root endpoint."),
    cfg.StrOpt("api_url", default=None,
               help="StackStorm API base URL (incl. /api/v1) Mistral uses to talk back."),
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
               help="Give up retrying after this many ms in total."),
    cfg.IntOpt("jitter_interval", default=1000, min=0,
               help="Random jitter (ms, 0..value) added to every backoff wait."),
    cfg.BoolOpt("enable_polling", default=False,
                help="Poll Mistral for results instead of letting Mistral push them."),
]

OUR_OPTS: List[cfg.Opt] = [
    cfg.IntOpt("retry_attempts", default=5, min=1,
               help="Maximum attempts of one Mistral call (connection errors, timeouts, 5xx)."),
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


def get(conf: cfg.ConfigOpts = cfg.CONF) -> Any:
    """The `[mistral]` group of `conf`, registering the options first if needed."""
    register_opts(conf)
    return getattr(conf, GROUP)
