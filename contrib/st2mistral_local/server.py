"""Runs the host in the foreground: a threaded WSGI server on loopback plus the host's threads."""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
from typing import Any, Dict, Optional

from werkzeug.serving import make_server

from mistral_v2 import masking
from st2mistral_local.api import create_app
from st2mistral_local.host import Host, HostSettings

LOG = logging.getLogger(__name__)

HOST_STATE = "host.json"


def write_state(state_dir: str, data: Dict[str, Any]) -> str:
    """Record where the host listens (read by `up`, `status`, `down`)."""
    path = os.path.join(state_dir, HOST_STATE)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)
    return path


def read_state(state_dir: str) -> Optional[Dict[str, Any]]:
    """The recorded host state, or None."""
    try:
        with open(os.path.join(state_dir, HOST_STATE)) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


class RunningHost:
    """A host serving HTTP on a background thread (used by `serve` and by tests)."""

    def __init__(self, settings: HostSettings, bind: str = "127.0.0.1", port: int = 0) -> None:
        werkzeug_log = logging.getLogger("werkzeug")
        if not any(isinstance(f, masking.LogFilter) for f in werkzeug_log.filters):
            werkzeug_log.addFilter(masking.LogFilter())  # tokens in request lines' query strings
        masking.install_log_filter()  # every handler: remembered tokens and secret values
        self.host = Host(settings)
        self.host.register_packs()
        self.httpd = make_server(bind, port, create_app(self.host), threaded=True)
        self.port = self.httpd.server_port
        self.bind = bind
        self._thread: Optional[threading.Thread] = None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>"""
        return "http://%s:%d" % (self.bind, self.port)

    def start(self) -> "RunningHost":
        """Start recovery, the reconciler and the HTTP thread."""
        self.host.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="st2-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and the host's threads."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.host.stop()


def serve(settings: HostSettings, bind: str, port: int) -> int:
    """Serve until SIGTERM/SIGINT; the listening port is recorded in the state dir."""
    running = RunningHost(settings, bind=bind, port=port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    running.start()
    write_state(settings.state_dir, {"pid": os.getpid(), "port": running.port, "base_url": running.base_url,
                                      "api_url": settings.api_url, "mistral_url": settings.mistral_url})
    LOG.info("st2mistral-local host listening on %s", running.base_url)
    print("READY %s" % running.base_url, flush=True)
    stop.wait()
    running.stop()
    return 0
