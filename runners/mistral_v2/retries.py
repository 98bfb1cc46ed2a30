"""The one tenacity retry policy (exponential back-off, attempt and time limits) for network calls."""
from __future__ import annotations

from typing import Any, Callable, Optional

import tenacity


def build(
    retry_if: Callable[[BaseException], bool],
    *,
    attempts: Optional[int],
    exp_msec: int,
    exp_max_msec: int,
    stop_max_msec: int,
    jitter_msec: float = 0,
    sleep: Callable[[float], None] = tenacity.nap.sleep,
    before_sleep: Optional[Callable[[tenacity.RetryCallState], None]] = None,
) -> tenacity.Retrying:
    """A Retrying that retries exceptions for which `retry_if` is true and re-raises the last one.

    It stops `stop_max_msec` ms after the first attempt (StackStorm's rule) or, when `attempts`
    is set, after that many attempts; it waits exponentially from `exp_msec` up to
    `exp_max_msec` ms between attempts, plus a random 0..`jitter_msec` ms.
    """
    wait: Any = tenacity.wait_exponential(multiplier=exp_msec / 1000.0, max=exp_max_msec / 1000.0)
    if jitter_msec:
        wait = wait + tenacity.wait_random(0, jitter_msec / 1000.0)
    stop: Any = tenacity.stop_after_delay(stop_max_msec / 1000.0)
    if attempts:
        stop = stop | tenacity.stop_after_attempt(attempts)
    return tenacity.Retrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception(retry_if),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def from_options(opts: Any, retry_if: Callable[[BaseException], bool],
                 sleep: Callable[[float], None] = tenacity.nap.sleep) -> tenacity.Retrying:
    """`build` with the limits of the `[mistral]` options group `opts` (jitter_interval is in
    seconds, as in StackStorm)."""
    return build(retry_if, attempts=opts.retry_attempts, exp_msec=opts.retry_exp_msec,
                 exp_max_msec=opts.retry_exp_max_msec, stop_max_msec=opts.retry_stop_max_msec,
                 jitter_msec=float(opts.jitter_interval or 0) * 1000.0, sleep=sleep)


def describe_limits(opts: Any) -> str:
    """The retry limits of `[mistral]` options `opts` in words, for error messages."""
    limit = "retried for up to %g s" % (opts.retry_stop_max_msec / 1000.0)
    if opts.retry_attempts:
        limit += " or %d attempt(s)" % opts.retry_attempts
    return limit
