"""A local host over a temporary pack for unit tests: write the pack, start the host, log in as st2admin."""
from __future__ import annotations

import base64
import contextlib
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional

from pack_files import write_files

from st2mistral_local.host import Host, HostSettings


def start_host(tmp_path: Path, pack_dir: Path) -> Host:
    """A host with its state in tmp_path/state serving `pack_dir` (registered), never polling."""
    host = Host(HostSettings(state_dir=str(tmp_path / "state"), api_url="http://127.0.0.1:9/api/v1",
                             pack_dirs=[str(pack_dir)], query_interval=3600))
    host.register_packs()
    return host


@contextlib.contextmanager
def hosted(tmp_path: Path, pack: Mapping[str, str]) -> Iterator[Host]:
    """start_host over `pack` (relative path -> text, written to tmp_path/pack); stopped on exit."""
    host = start_host(tmp_path, write_files(tmp_path / "pack", pack))
    try:
        yield host
    finally:
        host.stop()


def admin_login(client: Any, host: Host, body: Dict[str, Any]) -> Any:
    """The answer of POST /auth/v1/tokens with `body`, as st2admin with the generated password."""
    password = open(os.path.join(host.settings.state_dir, "st2admin.password")).read().strip()
    basic = base64.b64encode(("st2admin:%s" % password).encode()).decode()
    return client.post("/auth/v1/tokens", headers={"Authorization": "Basic " + basic}, json=body)


def admin_headers(client: Any, host: Host, body: Optional[Dict[str, Any]] = None) -> Dict[str, str]:
    """Log in as st2admin (POST /auth/v1/tokens with `body`); the header carrying the new token."""
    resp = admin_login(client, host, body or {})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return {"X-Auth-Token": resp.get_json()["token"]}


def wait_finished(client: Any, headers: Dict[str, str], ex_id: str, timeout: float = 20.0) -> Dict[str, Any]:
    """The execution document once succeeded or failed (or as it is after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        doc: Dict[str, Any] = client.get("/api/v1/executions/" + ex_id, headers=headers).get_json()
        if doc["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return doc
        time.sleep(0.05)
