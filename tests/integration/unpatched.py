"""A second real embedded Mistral with one of the plugin's fixes switched off by its environment switch."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

from st2mistral_server import ServerInfo
from st2mistral_server import start as start_server
from st2mistral_server import stop as stop_server


@contextlib.contextmanager
def mistral_without(switch: str) -> Iterator[ServerInfo]:
    """An embedded Mistral started with `switch`=0 in its environment (the variable restored in
    this process once it started); stopped on exit."""
    old = os.environ.get(switch)
    os.environ[switch] = "0"
    try:
        info = start_server(mode="embedded")
    finally:
        if old is None:
            os.environ.pop(switch, None)
        else:
            os.environ[switch] = old
    try:
        yield info
    finally:
        stop_server(info)
