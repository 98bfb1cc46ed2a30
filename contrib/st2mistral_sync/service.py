"""st2mistral-sync's main: wires StackStorm's config, bus and coordination to the sync engine."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any, List, Optional

LOG = logging.getLogger("st2mistral_sync")


def _register_opts() -> None:
    from mistral_v2 import config as mistral_config
    from st2mistral_sync import config as sync_config

    mistral_config.register_opts()
    sync_config.register_opts()


def _api_url(st2_seam: Any) -> str:
    from oslo_config import cfg

    from mistral_v2 import config as mistral_config
    from mistral_v2.exceptions import ConfigurationError

    url = mistral_config.st2_api_url(cfg.CONF.mistral_sync.api_url or cfg.CONF.mistral.api_url
                                     or st2_seam.public_api_url())
    if not url:
        raise ConfigurationError("st2mistral-sync: no StackStorm API URL: set [mistral_sync] api_url "
                                 "(or [mistral] api_url, or [auth] api_url) in st2.conf.")
    return url.rstrip("/")


def _api_key() -> str:
    from oslo_config import cfg

    from mistral_v2.exceptions import ConfigurationError

    key = cfg.CONF.mistral_sync.api_key or os.environ.get("ST2_API_KEY")
    if not key:
        raise ConfigurationError("st2mistral-sync: no StackStorm API key: set [mistral_sync] api_key in "
                                 "st2.conf (st2 apikey create -k) or ST2_API_KEY.")
    return key


def _beat(coordinator: Any, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        try:
            coordinator.heartbeat()
        except Exception as exc:  # the backend is away: the others may take our share meanwhile
            LOG.warning("coordination heartbeat failed: %s", exc)


def main(argv: Optional[List[str]] = None) -> int:
    """Run until SIGTERM/SIGINT: bus consumer (callbacks and pause-up at once) + reconcile/sweep every
    interval."""
    from st2mistral_sync import st2_seam

    st2_seam.monkey_patch()
    from mistral_v2 import config as mistral_config
    from mistral_v2.exceptions import St2MistralError
    from st2mistral_sync.engine import Alone, SyncEngine
    from st2mistral_sync.partition import ToozPartition
    from st2mistral_sync.rest import RestExecutions

    argv = sys.argv[1:] if argv is None else argv
    st2_seam.setup(argv, _register_opts)
    opts = mistral_config.get()
    from oslo_config import cfg
    sync_opts = cfg.CONF.mistral_sync
    stop = threading.Event()
    coordinator: Any = None
    consumer: Any = None
    partition: Any = None
    try:
        executions = RestExecutions(_api_url(st2_seam), api_key=_api_key(), conf=opts)
        membership = sync_opts.membership_timeout or max(2.0, opts.query_interval / 2.0)
        coordinator = st2_seam.coordinator(membership)
        if coordinator is None:
            LOG.warning("[coordination] url is not set: this instance does all the work; run only one.")
            partition = Alone()
            member = "%s_%d" % (os.uname().nodename, os.getpid())
        else:
            st2_seam.spawn(_beat, coordinator, membership / 3.0, stop)
            partition = ToozPartition(coordinator, sync_opts.group.encode())
            member_id = partition.member_id
            member = member_id.decode() if isinstance(member_id, bytes) else str(member_id)
        engine = SyncEngine(executions, partition, st2_executions=executions)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        consumer = st2_seam.consume_execution_updates(member, lambda doc: engine.on_update(doc, complete=True))
        LOG.info("st2mistral-sync %s started: StackStorm API %s, Mistral %s, every %gs, polling-only %s",
                 member, executions.api_url, opts.v2_base_url, opts.query_interval, opts.enable_polling)
        engine.run(opts.query_interval, stop, on_cycle=lambda counts: LOG.debug("cycle: %s", counts))
        LOG.info("st2mistral-sync %s stopping", member)
        return 0
    except St2MistralError as exc:
        LOG.error("%s", exc)
        return 1
    finally:
        stop.set()
        if consumer is not None:
            consumer.shutdown()
        if isinstance(partition, ToozPartition):
            partition.leave()
        if coordinator is not None:
            coordinator.stop()
        st2_seam.teardown()


if __name__ == "__main__":
    sys.exit(main())
