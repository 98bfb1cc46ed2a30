"""Identifiers and timestamps shaped like StackStorm's (Mongo ObjectId hex, ISO-8601 UTC)."""
from __future__ import annotations

import datetime
import itertools
import os
import threading
import time

_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_lock = threading.Lock()
_machine = os.urandom(5)


def new_id() -> str:
    """A 24-hex-digit id laid out like a Mongo ObjectId: 4-byte time, 5 random bytes, 3-byte counter."""
    with _lock:
        count = next(_counter) & 0xFFFFFF
    return (int(time.time()).to_bytes(4, "big") + _machine + count.to_bytes(3, "big")).hex()


def is_id(value: str) -> bool:
    """True when `value` looks like an id made by new_id()."""
    return len(value) == 24 and all(c in "0123456789abcdef" for c in value)


def now_iso() -> str:
    """Current UTC time as StackStorm prints it: 2026-11-24T12:00:00.123456Z."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime.datetime:
    """Parse a timestamp produced by now_iso()."""
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc
    )


def iso_after(seconds: float) -> str:
    """UTC timestamp `seconds` from now, in now_iso() format."""
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
