"""Write the mistral.conf for one server run (embedded or distributed)."""
from __future__ import annotations

import configparser
import ipaddress
import os
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import urlsplit

# std.http (and Mistral's webhook publisher) may not reach loopback or link-local (incl. the cloud
# metadata address), except the StackStorm API's own address, so a workflow can call StackStorm
# but no other local service on another address (docs/operators.md). The plugin's own calls
# (st2.action, the st2 publisher) do not go through this check.
LINK_LOCAL = ("169.254.0.0/16", "fe80::/10")
LOOPBACK = ("127.0.0.0/8", "::1/128")
DEFAULT_ST2_ADDRESS = "127.0.0.1"


def denied_cidrs(st2_api_url: Optional[str] = None) -> str:
    """`[action_std_http] denied_cidrs`: loopback and link-local minus the StackStorm API's address
    (the host of `st2_api_url` when it is an IP literal; 127.0.0.1, where the local host listens,
    when no URL is given; none when it is a name)."""
    host = urlsplit(st2_api_url).hostname if st2_api_url else DEFAULT_ST2_ADDRESS
    try:
        allowed = ipaddress.ip_network(host or "")
    except ValueError:
        allowed = None
    denied: List[str] = []
    for cidr in LOOPBACK + LINK_LOCAL:
        net = ipaddress.ip_network(cidr)
        if allowed is not None and allowed.version == net.version and allowed.subnet_of(net):  # type: ignore[arg-type]
            denied.extend(str(n) for n in sorted(net.address_exclude(allowed)))  # type: ignore[arg-type]
        else:
            denied.append(cidr)
    return ",".join(denied)


# oslo.log's and Mistral 23's default levels, plus ours: Mistral's std actions log their inputs
# at INFO ("Running echo action [output=...]"), secrets included; they log at WARN and above
# only; so does Mistral's RPC client, which logs every action result it sends to the engine
# ("Send RPC request 'on_action_complete'[..., result=Result [data=...]]").
# (The workflow trace keeps INFO: the plugin's trace_filter hides its inputs and results.)
QUIET_LOGGERS = ("mistral.actions.std_actions=WARN", "mistral.rpc.clients=WARN")
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
        "action_std_http": {"denied_cidrs": denied_cidrs(st2_api_url)},
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
