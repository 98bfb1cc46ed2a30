"""Shared pytest fixtures: real Mistral servers (started once per run), a client and waiting."""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Dict, Iterator

import pytest

from mistral_v2.exceptions import MistralError
from st2mistral_server import ServerInfo, start, stop
from st2mistral_server.infra import distributed_unavailable_reason
from st2mistral_server.waiting import wait_for_state as _wait_for_state

# Per-tier outcome counts written for scripts/test (ST2MISTRAL_TIER_REPORT): a tier CI is meant to
# run must have passed tests and none skipped.
TIER_MARKERS = ("integration", "distributed", "load", "st2")
_TIER_COUNTS: Dict[str, Dict[str, int]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and report.outcome == "passed":
        return  # setup/teardown that passed: the call phase reports the test
    if report.when == "teardown" and report.outcome != "failed":
        return
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    else:
        outcome = report.outcome
    tiers = [m for m in TIER_MARKERS if m in report.keywords] or ["unit"]
    for tier in tiers:
        counts = _TIER_COUNTS.setdefault(tier, {})
        counts[outcome] = counts.get(outcome, 0) + 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("ST2MISTRAL_TIER_REPORT")
    if path:
        with open(path, "w") as fh:
            json.dump(_TIER_COUNTS, fh)


def _teardown(request: pytest.FixtureRequest, info: ServerInfo) -> None:
    failed = request.session.testsfailed > 0
    stop(info, keep_run_dir=failed)
    if failed:
        print(f"\nMistral ({info.mode}) logs kept in {info.run_dir}")


@pytest.fixture(scope="session")
def mistral_server(request: pytest.FixtureRequest) -> Iterator[ServerInfo]:
    """A real embedded Mistral (SQLite, in-memory RPC), started once per test run.

    ST2MISTRAL_TEST_MODE=distributed runs the whole integration tier on distributed Mistral.
    """
    mode = os.environ.get("ST2MISTRAL_TEST_MODE", "embedded")
    if mode == "distributed":
        reason = distributed_unavailable_reason()
        if reason:
            pytest.skip(reason)
    info = start(mode=mode)
    yield info
    _teardown(request, info)


@pytest.fixture(scope="session")
def mistral_distributed(request: pytest.FixtureRequest) -> Iterator[ServerInfo]:
    """A real distributed Mistral (api/engine/executor/notifier over RabbitMQ, PostgreSQL)."""
    reason = distributed_unavailable_reason()
    if reason:
        pytest.skip(reason)
    try:
        info = start(mode="distributed")
    except MistralError as exc:
        # Seen once in a full CI run: Mistral's API worker started but never answered (its logs
        # kept in the run dir). A second start (fresh ports, database and processes) decides.
        print("distributed Mistral did not start (%s); starting it once more" % str(exc).splitlines()[0])
        info = start(mode="distributed")
    yield info
    _teardown(request, info)


@pytest.fixture(scope="session")
def st2_stack(mistral_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Real StackStorm 3.9.0 (tests/stacks/real_st2.py) on the session's Mistral; started once.

    Fails (never skips) when StackStorm's source or the build is missing."""
    from stacks.real_st2 import StackError, running_stack

    with contextlib.ExitStack() as running:
        try:
            stack = running.enter_context(running_stack(mistral_server.url, tmp_path_factory.mktemp("st2stack")))
        except StackError as exc:
            pytest.fail("real StackStorm could not be started: %s" % exc)
        yield stack
    if stack.setup_log.exists():
        print("\nst2 tier: %s; logs in %s" % (
            ", ".join("%s %.1fs" % kv for kv in stack.timings.items()), stack.state))


def make_client(info: ServerInfo):
    """A python-mistralclient v2 client for `info` (auth is off on our servers)."""
    from mistralclient.api import client as mistral_client

    return mistral_client.client(mistral_url=info.url)


@pytest.fixture
def mistral_client(mistral_server: ServerInfo):
    """python-mistralclient against the session's Mistral server."""
    return make_client(mistral_server)


@pytest.fixture
def mistral_distributed_client(mistral_distributed: ServerInfo):
    """python-mistralclient against the session's distributed Mistral server."""
    return make_client(mistral_distributed)


@pytest.fixture
def wait_for_state():
    """`wait_for_state(client, execution_id, states, timeout=60)` -> execution; fails fast."""
    return _wait_for_state
