"""Run a real Mistral server in ONE process (engine, executor, notifier, API) on fake:/ RPC.

Executed by the Mistral virtualenv's python, so it imports only Mistral and the stdlib.
Usage: launcher.py --config-file FILE [--init-db]

The parts call each other through oslo.messaging's in-memory `fake` driver, whose listener
checks its queues and then sleeps a fixed 50 ms when they are empty: 0-50 ms added to every
start and every action-completion PUT. `_wake_fake_listeners` makes that wait event-driven, in
this process only (nothing in the venv is edited): every delivery to a fake exchange bumps a
counter under a `threading.Condition` and notifies it, and the listener's sleep becomes a wait
on that condition for "a delivery since I last looked at the queues", still bounded by the
driver's own pause (<= 50 ms), so a missed wake-up costs at most what the plain sleep costs.
The "since I last looked" counter is taken at the listener's first queue check of a round, so a
message delivered between that check and the wait ends the wait at once (no lost wake-up).
Threads are real (oslo.service threading backend below, no eventlet monkey-patching).
"""
import argparse
import logging as std_logging
import logging.config as std_logging_config
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Optional

# Mistral 23 runs its services on oslo.service's threading backend (no eventlet).
import oslo_service.backend as service_backend

service_backend.init_backend(service_backend.BackendType.THREADING)

from oslo_config import cfg  # noqa: E402
from oslo_log import log as logging  # noqa: E402

CONF = cfg.CONF
LOG = logging.getLogger("st2mistral.launcher")


class DeliveryWakeup:
    """Stands in for the fake driver's `time` module: `time()` as usual, `sleep()` wakes on delivery."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._delivered = 0
        self._seen = threading.local()
        self.time: Callable[[], float] = time.time
        self.woken = 0  # waits ended by a delivery rather than by their bound (tests read it)

    def delivered(self) -> None:
        """A message was appended to some fake queue: wake every waiting listener."""
        with self._cond:
            self._delivered += 1
            self._cond.notify_all()

    def polled(self) -> None:
        """A listener is about to check a queue: remember the count at its round's first check."""
        if getattr(self._seen, "count", None) is None:
            with self._cond:
                self._seen.count = self._delivered

    def found(self) -> None:
        """The check returned a message: the listener's round ends without a wait."""
        self._seen.count = None

    def sleep(self, seconds: float) -> bool:
        """Wait until a delivery after this thread's last round of checks, at most `seconds`."""
        seen: Optional[int] = getattr(self._seen, "count", None)
        self._seen.count = None
        with self._cond:
            if seen is None:
                seen = self._delivered
            woken = self._cond.wait_for(lambda: self._delivered != seen, timeout=max(seconds, 0))
            if woken:
                self.woken += 1
            return woken


def _wake_fake_listeners(impl_fake: Any) -> DeliveryWakeup:
    """Make oslo.messaging's fake driver listeners wake on delivery instead of polling every 50 ms."""
    wakeup = DeliveryWakeup()
    exchange = impl_fake.FakeExchange
    deliver, poll = exchange.deliver_message, exchange.poll

    def deliver_message(self: Any, *args: Any, **kwargs: Any) -> None:
        deliver(self, *args, **kwargs)
        wakeup.delivered()

    def poll_queue(self: Any, target: Any, pool: Any) -> Any:
        wakeup.polled()
        item = poll(self, target, pool)
        if item[1] is not None:
            wakeup.found()
        return item

    exchange.deliver_message = deliver_message
    exchange.poll = poll_queue
    impl_fake.time = wakeup  # FakeListener.poll uses only time.time() and time.sleep()
    return wakeup


def _stamp_head() -> None:
    """Mark the schema (already created from Mistral's models by setup_db) as alembic head.

    `mistral-db-manage upgrade head` cannot run on SQLite ("No support for ALTER of constraints").
    """
    import mistral.db.sqlalchemy.migration as migration_pkg
    from alembic import command as alembic_cmd
    from alembic import config as alembic_config

    acfg = alembic_config.Config(os.path.join(os.path.dirname(migration_pkg.__file__), "alembic.ini"))
    acfg.set_main_option("script_location", "mistral.db.sqlalchemy.migration:alembic_migrations")
    acfg.mistral_config = CONF
    # Mistral's alembic env.py calls logging.config.fileConfig(alembic.ini), which would replace
    # oslo.log's file handler with a console handler and disable loggers created so far.
    real_file_config = std_logging_config.fileConfig
    std_logging_config.fileConfig = lambda *args, **kwargs: None
    try:
        alembic_cmd.stamp(acfg, "head")
    finally:
        std_logging_config.fileConfig = real_file_config


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--init-db", action="store_true")
    args = parser.parse_args()

    import oslo_messaging as messaging
    from mistral import config as mistral_config
    from mistral.rpc import base as rpc_base
    from mistral.rpc import clients as rpc_clients
    from oslo_messaging._drivers import impl_fake

    mistral_config.parse_args(["--config-file", args.config_file])
    logging.setup(CONF, "mistral")

    from mistral.db.v2 import api as db_api

    db_api.setup_db()
    if args.init_db:
        _stamp_head()

    # Same order Mistral's own engine tests use: let oslo.messaging register its
    # options, then switch to the in-memory transport before any RPC object exists.
    messaging.get_transport(CONF)
    CONF.set_default("transport_url", "fake:/")
    _wake_fake_listeners(impl_fake)
    rpc_base.cleanup()
    rpc_clients.cleanup()

    from mistral.api import service as api_service
    from mistral.engine import engine_server
    from mistral.executors import executor_server
    from mistral.notifiers import notification_server
    from mistral.services import action_manager  # noqa: F401

    services = [
        executor_server.get_oslo_service(setup_profiler=False),
        notification_server.get_oslo_service(setup_profiler=False),
        engine_server.get_oslo_service(setup_profiler=False),
    ]
    for svc in services:
        svc.start()
    for svc in services:
        svc.wait_started()
    api = api_service.WSGIService("mistral_api")
    api.start()
    LOG.info("st2mistral embedded Mistral ready on %s:%s", CONF.api.host, CONF.api.port)
    print("READY", flush=True)

    stop = threading.Event()

    def _on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    stop.wait()
    api.stop()
    for svc in reversed(services):
        try:
            svc.stop(True)
        except Exception:  # stopping is best effort; the process exits next
            LOG.exception("error stopping %s", svc)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    std_logging.shutdown()
    # Mistral leaves non-daemon worker threads (futurist, timers) behind; do not wait for them.
    os._exit(code)
