"""The embedded launcher's fake-RPC wake-up: a listener returns a delivered message without its poll pause.

Runs the real oslo.messaging fake driver in the Mistral venv's python (a subprocess), with the
launcher's `_wake_fake_listeners` applied and the listener's pause bound stretched to an hour: only
a wake-up on delivery can return the message before the hang guard.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest

from st2mistral_server import ensure_venv
from st2mistral_server.paths import launcher_path

PROBE = r"""
import importlib.util, json, sys, threading
spec = importlib.util.spec_from_file_location("st2mistral_launcher", sys.argv[1])
launcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launcher)
import oslo_messaging
from oslo_config import cfg
from oslo_messaging._drivers import impl_fake

HOUR = 3600.0
wakeup = launcher._wake_fake_listeners(impl_fake)
bounded_sleep = wakeup.sleep
waiting = threading.Event()
bounds = []

def sleep_an_hour(seconds):
    bounds.append(seconds)
    waiting.set()
    return bounded_sleep(HOUR)

wakeup.sleep = sleep_an_hour
out = {}
driver = impl_fake.FakeDriver(cfg.CONF, None, default_exchange="probe")
target = oslo_messaging.Target(topic="t", exchange="probe")
exchange = driver._exchange_manager.get_exchange("probe")

# 1. a listener blocked in its pause returns the message delivered meanwhile
listener = impl_fake.FakeListener(driver._exchange_manager, [target])
got = []
thread = threading.Thread(target=lambda: got.extend(listener.poll(timeout=None)), daemon=True)
thread.start()
out["listener_waited"] = waiting.wait(120)
exchange.deliver_message("t", {}, {"n": 1})
thread.join(120)
out["returned"] = [m.message for m in got]
out["pause_bounds"] = bounds
out["woken"] = wakeup.woken

# 2. a delivery between the queue check and the wait is not lost
wakeup.sleep = bounded_sleep
out["empty_check"] = exchange.poll(target, None)[1]
exchange.deliver_message("t", {}, {"n": 2})
out["late_delivery_wakes"] = wakeup.sleep(HOUR)
out["late_message"] = exchange.poll(target, None)[1]

# 3. with nothing delivered the wait ends at its bound, reporting no wake-up
exchange.poll(target, None)
out["idle_wakes"] = wakeup.sleep(0.01)
out["time_is_clock"] = abs(impl_fake.time.time() - __import__("time").time()) < 60
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def out() -> Dict[str, Any]:
    python = Path(ensure_venv()) / "bin" / "python"
    done = subprocess.run([str(python), "-c", PROBE, str(launcher_path())], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_fake_listener_wakes_on_delivery_not_on_its_pause(out: Dict[str, Any]) -> None:
    assert out["listener_waited"] is True
    assert out["returned"] == [{"n": 1}]
    # The driver asked for its usual <= 50 ms pause (stretched to an hour here) exactly once:
    # the message came back because the delivery woke that wait.
    assert len(out["pause_bounds"]) == 1 and 0 < out["pause_bounds"][0] <= 0.05
    assert out["woken"] == 1


def test_delivery_between_check_and_wait_is_not_lost(out: Dict[str, Any]) -> None:
    assert out["empty_check"] is None
    assert out["late_delivery_wakes"] is True
    assert out["late_message"] == {"n": 2}


def test_idle_wait_ends_at_its_bound_without_a_wake_up(out: Dict[str, Any]) -> None:
    assert out["idle_wakes"] is False
    assert out["time_is_clock"] is True
