"""Unit tests of mistral_v2.retries: the one retry policy (attempts, back-off, jitter, predicate)."""
from __future__ import annotations

import types
from typing import List

import pytest

from mistral_v2 import retries


class Flaky(Exception):
    pass


def _calls(fail_times: int, exc: Exception):
    calls: List[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= fail_times:
            raise exc
        return "ok"
    return fn, calls


def test_retries_matching_errors_until_success_with_exponential_waits():
    slept: List[float] = []
    fn, calls = _calls(2, Flaky("x"))
    r = retries.build(lambda e: isinstance(e, Flaky), attempts=5, exp_msec=100, exp_max_msec=150,
                      stop_max_msec=60000, sleep=slept.append)
    assert r(fn) == "ok" and len(calls) == 3
    assert slept == [pytest.approx(0.1), pytest.approx(0.15)]  # capped by exp_max_msec


def test_gives_up_after_attempts_and_reraises_the_last_error():
    seen: List[int] = []
    fn, calls = _calls(10, Flaky("still down"))
    r = retries.build(lambda e: isinstance(e, Flaky), attempts=3, exp_msec=0, exp_max_msec=0,
                      stop_max_msec=60000, sleep=lambda s: None,
                      before_sleep=lambda state: seen.append(state.attempt_number))
    with pytest.raises(Flaky, match="still down"):
        r(fn)
    assert len(calls) == 3 and seen == [1, 2]


def test_other_errors_are_not_retried():
    fn, calls = _calls(1, ValueError("bad input"))
    r = retries.build(lambda e: isinstance(e, Flaky), attempts=5, exp_msec=0, exp_max_msec=0,
                      stop_max_msec=60000, sleep=lambda s: None)
    with pytest.raises(ValueError):
        r(fn)
    assert len(calls) == 1


def test_from_options_uses_the_mistral_limits_and_jitter():
    opts = types.SimpleNamespace(retry_attempts=4, retry_exp_msec=1000, retry_exp_max_msec=2000,
                                 retry_stop_max_msec=600000, jitter_interval=0.5)
    slept: List[float] = []
    fn, calls = _calls(10, Flaky("x"))
    with pytest.raises(Flaky):
        retries.from_options(opts, lambda e: isinstance(e, Flaky), sleep=slept.append)(fn)
    assert len(calls) == 4 and len(slept) == 3
    for base, waited in zip([1.0, 2.0, 2.0], slept):
        assert base <= waited <= base + 0.5
