"""Write the mistral.conf for one server run (embedded or distributed)."""
from __future__ import annotations

import configparser
import os
from pathlib import Path
from typing import Dict, Optional

# Mistral 23 denies 127.0.0.0/8 to std.http by default; the plugin must reach a StackStorm on
# loopback, so only link-local (incl. the cloud metadata address) stays denied.
DENIED_CIDRS = "169.254.0.0/16,fe80::/10"


# oslo.log's and Mistral 23's default levels, plus ours: Mistral's workflow trace ("Starting
# workflow [name=..., input=...]") and std actions ("Running echo action [output=...]") log
# workflow inputs at INFO, secrets included; they log at WARN and above only.
QUIET_LOGGERS = ("workflow_trace=WARN", "mistral.actions.std_actions=WARN")
_OSLO_AND_MISTRAL_LEVELS = (
    "amqp=WARN", "boto=WARN", "sqlalchemy=WARN", "suds=INFO", "oslo.messaging=INFO",
    "oslo_messaging=INFO", "iso8601=WARN", "requests.packages.urllib3.connectionpool=WARN",
    "urllib3.connectionpool=WARN", "websocket=WARN", "requests.packages.urllib3.util.retry=WARN",
    "urllib3.util.retry=WARN", "keystonemiddleware=WARN", "routes.middleware=WARN", "stevedore=WARN",
    "taskflow=WARN", "keystoneauth=WARN", "oslo.cache=INFO", "oslo_policy=INFO",
    "dogpile.core.dogpile=INFO", "eventlet.wsgi.server=WARN", "oslo_service.periodic_task=INFO",
    "oslo_service.loopingcall=INFO", "mistral.services.periodic=INFO", "kazoo.client=WARN",
    "oslo_db=WARN")
DEFAULT_LOG_LEVELS = ",".join(_OSLO_AND_MISTRAL_LEVELS + QUIET_LOGGERS)


def render(*, port: int, db_url: str, transport_url: str, log_file: Optional[Path],
           namespace: Optional[str] = None, st2_api_url: Optional[str] = None) -> configparser.ConfigParser:
    """A mistral.conf: API on 127.0.0.1:`port`, remote executor/notifier.

    With `st2_api_url` every API call must carry a StackStorm token or API key that this
    StackStorm accepts (the plugin's `st2` auth handler); without it authentication is off (only
    for tests sharing one Mistral between many hosts, and `st2mistral-server up --no-auth`).

    `namespace` (distributed mode) gives this run its own oslo.messaging exchange and topics so
    parallel runs sharing one RabbitMQ never consume each other's messages.
    """
    conf = configparser.ConfigParser(interpolation=None)
    default: Dict[str, str] = {"transport_url": transport_url, "use_stderr": "false",
                               "default_log_levels": DEFAULT_LOG_LEVELS}
    if log_file is not None:
        default["log_file"] = str(log_file)
    sections: Dict[str, Dict[str, str]] = {
        "DEFAULT": default,
        "api": {"host": "127.0.0.1", "port": str(port), "api_workers": "1"},
        "database": {"connection": db_url},
        "pecan": {"auth_enable": "true" if st2_api_url else "false"},
        "executor": {"type": "remote"},
        "notifier": {"type": "remote"},
        "action_std_http": {"denied_cidrs": DENIED_CIDRS},
        "coordination": {},
    }
    if st2_api_url:
        default["auth_type"] = "st2"
        sections["st2"] = {"api_url": st2_api_url.rstrip("/")}
    if namespace:
        default["control_exchange"] = namespace
        for section in ("engine", "executor", "notifier", "event_engine"):
            sections.setdefault(section, {})["topic"] = f"{namespace}_{section}"
        # Queues go when their consumers do; fanout/reply queues of a killed run expire in 5 min.
        sections["oslo_messaging_rabbit"] = {"amqp_auto_delete": "true",
                                             "rabbit_transient_queues_ttl": "300"}
    for name, values in sections.items():
        if name == "DEFAULT":
            conf["DEFAULT"] = values
        else:
            conf[name] = values
    return conf


def write(path: Path, conf: configparser.ConfigParser) -> Path:
    """Write `conf` to `path`, created owner-only (mode 0600 from the start), and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode on open: make it private before writing
    with os.fdopen(fd, "w") as fh:
        conf.write(fh)
    return path
