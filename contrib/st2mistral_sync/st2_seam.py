"""The service's one StackStorm import point: st2's eventlet patching, config and logging setup,
the execution-update consumer on st2's message bus and st2's coordination backend (tooz)."""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SERVICE = "mistral_sync"


def monkey_patch() -> None:
    """eventlet's patching, as every StackStorm service does first thing."""
    from st2common.util.monkey_patch import monkey_patch as st2_monkey_patch

    st2_monkey_patch()


class _ServiceConfig:
    """The `config` module shape st2common.service_setup.setup expects."""

    @staticmethod
    def parse_args(args: Optional[List[str]] = None) -> None:
        import st2common.config as common_config
        from oslo_config import cfg
        from st2common.constants.system import DEFAULT_CONFIG_FILE_PATH, VERSION_STRING

        common_config.use_st2_env_vars(cfg.CONF)
        cfg.CONF(args=args, version=VERSION_STRING, default_config_files=[DEFAULT_CONFIG_FILE_PATH])

    @staticmethod
    def get_logging_config_path() -> str:
        from oslo_config import cfg

        return cfg.CONF.mistral_sync.logging


def setup(argv: Optional[List[str]], register_opts: Callable[[], None]) -> None:
    """StackStorm's service setup: st2.conf (`--config-file`), logging, exchanges, signal handlers.

    No database: the service reads and writes executions through st2api, which works wherever
    the service runs (and with any st2 database)."""
    import st2common.config as common_config
    from st2common.service_setup import setup as common_setup

    common_config.register_opts(ignore_errors=True)
    register_opts()
    common_setup(service=SERVICE, config=_ServiceConfig, setup_db=False, register_mq_exchanges=True,
                 register_signal_handlers=True, run_migrations=False, register_runners=False,
                 service_registry=False, config_args=argv)


def teardown() -> None:
    from st2common.service_setup import teardown as common_teardown

    common_teardown()


def public_api_url() -> Optional[str]:
    """StackStorm's public API URL from st2.conf ([auth] api_url + /v1)."""
    from st2common.util.api import get_full_public_api_url

    try:
        return get_full_public_api_url()
    except Exception:
        return None


def with_membership_timeout(url: str, seconds: float) -> str:
    """The coordination URL with tooz's `membership_timeout` set, unless the operator set it."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if "membership_timeout" in query or parts.scheme not in ("redis", "rediss"):
        return url
    query["membership_timeout"] = "%g" % seconds
    return urlunsplit(parts._replace(query=urlencode(query)))


def coordinator(membership_timeout: float) -> Optional[Any]:
    """A started tooz coordinator on StackStorm's `[coordination] url` (member id host_pid, as
    st2's services), or None when no real backend is configured (one instance only)."""
    from oslo_config import cfg
    from st2common.services import coordination
    from tooz import coordination as tooz_coordination

    if not coordination.configured():
        return None
    url = with_membership_timeout(cfg.CONF.coordination.url, membership_timeout)
    coord = tooz_coordination.get_coordinator(url, coordination.get_member_id(),
                                              lock_timeout=cfg.CONF.coordination.lock_timeout)
    coord.start(start_heart=False)  # the service beats itself, well inside membership_timeout
    return coord


def _as_doc(execution: Any) -> Dict[str, Any]:
    """The fields of an ActionExecutionDB the engine reads."""
    return {"id": str(execution.id), "status": execution.status, "parent": execution.parent,
            "context": dict(execution.context or {}), "liveaction": dict(execution.liveaction or {}),
            "result": execution.result}


def consume_execution_updates(member: str, on_update: Callable[[Dict[str, Any]], Any]) -> Any:
    """Start a consumer of StackStorm's execution updates (exchange st2.execution, routing key
    `update`) on an exclusive queue of this instance; returns st2's MessageHandler (shutdown())."""
    from st2common.models.db.execution import ActionExecutionDB
    from st2common.transport import consumers, publishers
    from st2common.transport import execution as execution_transport
    from st2common.transport import utils as transport_utils

    class ExecutionUpdates(consumers.MessageHandler):
        message_type = ActionExecutionDB

        def process(self, body: Any) -> None:
            on_update(_as_doc(body))

    name = "st2.mistral_sync.execution.%s" % re.sub(r"[^A-Za-z0-9_.-]", "_", member)
    queue = execution_transport.get_queue(name=name, routing_key=publishers.UPDATE_RK,
                                          exclusive=True, auto_delete=True)
    with transport_utils.get_connection() as conn:
        handler = ExecutionUpdates(conn, [queue])
    handler.start(wait=False)
    return handler


def spawn(func: Callable[..., Any], *args: Any) -> Any:
    """A green thread, as StackStorm's services start theirs."""
    from st2common.util import concurrency

    return concurrency.spawn(func, *args)
