"""`st2mistral-local`: up / down / status / serve for the local StackStorm-compatible host."""
from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import requests

from mistral_v2.exceptions import St2MistralError
from st2mistral_local import host as host_mod
from st2mistral_local import server
from st2mistral_server import paths

MISTRAL_STATE = "mistral.json"
PORTS = "ports.json"
HOST_LOG = "host.log"
START_TIMEOUT = 60.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="st2mistral-local", description=__doc__)
    parser.add_argument("--home", help="state root (default $ST2MISTRAL_HOME or ~/.st2mistral)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start Mistral and the host in the background; print ST2_* exports")
    up.add_argument("--packs", nargs="*", default=[], metavar="DIR", help="extra pack directories")
    up.add_argument("--mistral", choices=("embedded", "distributed"), default="embedded")
    up.add_argument("--port", type=int, default=0, help="host port (default: a free one)")
    up.add_argument("--config-file", help="oslo.config file with a [mistral] section, passed to the host")
    sub.add_parser("down", help="stop everything `up` started")
    sub.add_parser("status", help="say what runs")
    serve = sub.add_parser("serve", help="run the host in the foreground")
    serve.add_argument("--packs", nargs="*", default=[], metavar="DIR")
    serve.add_argument("--bind", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--mistral-url", help="Mistral v2 base URL, e.g. http://127.0.0.1:8989/v2")
    serve.add_argument("--query-interval", type=float, default=None)
    serve.add_argument("--state-dir", help="default <home>/local")
    serve.add_argument("--config-file", help="oslo.config file with a [mistral] section (query_interval, retries...)")
    return parser


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _read_json(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _host_alive(state: Optional[Dict[str, Any]]) -> bool:
    from st2mistral_server import process

    return state is not None and process.is_ours(int(state["pid"]), "st2mistral_local.cli")


def _serve(args: argparse.Namespace, state_dir: str) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.port and not 0 < args.port < 65536:
        _say("st2mistral-local: invalid port %r" % args.port)
        return 2
    from st2mistral_server import process

    port = args.port or process.free_port()
    if args.config_file:
        host_mod.load_config_file(args.config_file)
    settings = host_mod.HostSettings(
        state_dir=state_dir, api_url="http://%s:%d/api/v1" % (args.bind, port),
        mistral_url=args.mistral_url, pack_dirs=[os.path.abspath(p) for p in args.packs],
        query_interval=args.query_interval)
    return server.serve(settings, args.bind, port)


def _port_if_free(port: Any) -> Optional[int]:
    """`port` when it is a valid loopback port nobody listens on now, else None."""
    if not isinstance(port, int) or not 0 < port < 65536:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return None
    return port


def _wait_host(state_dir: str, proc: Any, deadline: float) -> Dict[str, Any]:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise St2MistralError("the host exited with code %s during start-up" % proc.returncode)
        state = server.read_state(state_dir)
        if state and state.get("pid") == proc.pid:
            try:
                requests.get(state["base_url"] + "/", timeout=2)
                return state
            except requests.RequestException:
                pass
        time.sleep(0.2)
    raise St2MistralError("the host did not start within %.0f s" % START_TIMEOUT)


def _tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return ""


APIKEY_STATE = "apikey.json"


def _apikey(base_url: str, state_dir: str) -> str:
    """A new API key for the exports; the key an earlier `up` printed is revoked (its id, never the
    key itself, is kept in <state>/apikey.json), so repeated `up`s leave one valid key."""
    from st2mistral_local.auth import DEFAULT_USER

    with open(os.path.join(state_dir, "%s.password" % DEFAULT_USER)) as fh:
        password = fh.read().strip()
    resp = requests.post(base_url + "/auth/v1/tokens", auth=(DEFAULT_USER, password), json={"ttl": 300}, timeout=10)
    resp.raise_for_status()
    headers = {"X-Auth-Token": resp.json()["token"]}
    resp = requests.post(base_url + "/api/v1/apikeys", headers=headers, json={}, timeout=10)
    resp.raise_for_status()
    created = resp.json()
    state_path = os.path.join(state_dir, APIKEY_STATE)
    previous = (_read_json(state_path) or {}).get("id")
    paths.private_file(state_path)
    with open(state_path, "w") as fh:
        json.dump({"id": created["id"]}, fh)
    if previous and previous != created["id"]:
        gone = requests.delete(base_url + "/api/v1/apikeys/%s" % previous, headers=headers, timeout=10)
        if gone.status_code not in (204, 404):
            _say("st2mistral-local: could not revoke the previous API key %s (HTTP %s)" % (previous, gone.status_code))
    return str(created["key"])


def _exports(base_url: str, key: str) -> str:
    return "\n".join([
        "export ST2_BASE_URL=%s" % base_url,
        "export ST2_API_URL=%s/api/v1" % base_url,
        "export ST2_AUTH_URL=%s/auth/v1" % base_url,
        "export ST2_API_KEY=%s" % key,
    ])


def _up(args: argparse.Namespace, home: str, state_dir: str) -> int:
    import st2mistral_server
    from st2mistral_server import process

    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    existing = server.read_state(state_dir)
    if existing is not None and _host_alive(existing):
        _say("st2mistral-local: already running at %s (run `st2mistral-local down` first to restart)"
             % existing["base_url"])
        print(_exports(existing["base_url"], _apikey(existing["base_url"], state_dir)))
        return 0
    for pack in args.packs:
        if not os.path.isfile(os.path.join(pack, "pack.yaml")):
            _say("st2mistral-local: %s is not a pack directory (no pack.yaml)" % pack)
            return 2
    # The embedded Mistral's database lives beside the host's store, so executions that were
    # running at `down` continue after the next `up` (distributed mode uses a fresh PostgreSQL DB).
    db_path = Path(state_dir) / "mistral.db" if args.mistral == "embedded" else None
    # Same ports as last time when free: workflows still running in Mistral (and children's
    # callbacks) keep reaching the host and Mistral at the URLs they were given.
    ports = _read_json(os.path.join(state_dir, PORTS)) or {}
    mistral_port = _port_if_free(ports.get("mistral"))
    port = args.port or _port_if_free(ports.get("host")) or process.free_port()
    # Mistral authenticates every call with this host (tokens / API keys it issued).
    info = st2mistral_server.start(mode=args.mistral, home=Path(home), db_path=db_path, port=mistral_port,
                                   st2_api_url="http://127.0.0.1:%d/api/v1" % port)
    with open(os.path.join(state_dir, MISTRAL_STATE), "w") as fh:
        json.dump(info.to_dict(), fh, indent=2)
    with open(os.path.join(state_dir, PORTS), "w") as fh:
        json.dump({"host": port, "mistral": info.port}, fh)
    cmd = [sys.executable, "-m", "st2mistral_local.cli", "--home", home, "serve", "--port", str(port),
           "--mistral-url", info.url, "--state-dir", state_dir]
    if args.config_file:
        cmd += ["--config-file", os.path.abspath(args.config_file)]
    if args.packs:
        cmd += ["--packs"] + [os.path.abspath(p) for p in args.packs]
    log = os.path.join(state_dir, HOST_LOG)
    proc = process.spawn(cmd, Path(log), Path(state_dir), env=dict(os.environ))
    try:
        state = _wait_host(state_dir, proc, time.monotonic() + START_TIMEOUT)
        key = _apikey(state["base_url"], state_dir)
    except (St2MistralError, requests.RequestException, OSError) as exc:
        _say("st2mistral-local: %s; host log %s:\n%s" % (exc, log, _tail(log)))
        process.terminate([proc.pid], "st2mistral_local.cli")
        st2mistral_server.stop(info)
        return 1
    _say("st2mistral-local: Mistral %s at %s; host at %s (log %s)" % (args.mistral, info.url, state["base_url"], log))
    _say("st2mistral-local: `st2 auth st2admin` works too; its password is in %s"
         % os.path.join(state_dir, "st2admin.password"))
    print(_exports(state["base_url"], key))
    return 0


def _down(home: str, state_dir: str) -> int:
    import st2mistral_server
    from st2mistral_server import process

    state = server.read_state(state_dir)
    if state and process.terminate([int(state["pid"])], "st2mistral_local.cli"):
        _say("st2mistral-local: host stopped")
    mistral = _read_json(os.path.join(state_dir, MISTRAL_STATE))
    if mistral:
        st2mistral_server.stop(st2mistral_server.ServerInfo.from_dict(mistral))
        os.remove(os.path.join(state_dir, MISTRAL_STATE))
        _say("st2mistral-local: Mistral stopped")
    for path in (os.path.join(state_dir, server.HOST_STATE),):
        if os.path.exists(path):
            os.remove(path)
    return 0


def _status(state_dir: str) -> int:
    import st2mistral_server

    state = server.read_state(state_dir)
    host_up = state is not None and _host_alive(state)
    where = "running at %s (pid %s)" % (state["base_url"], state["pid"]) if state is not None and host_up else ""
    print("host: %s" % (where or "not running"))
    mistral = _read_json(os.path.join(state_dir, MISTRAL_STATE))
    info = st2mistral_server.ServerInfo.from_dict(mistral) if mistral else None
    print("mistral: %s" % ("%s at %s" % (info.mode, info.url) if info and info.running() else "not running"))
    return 0 if host_up else 3


def main(argv: Optional[List[str]] = None) -> int:
    """Console script entry point."""
    args = _parser().parse_args(argv)
    home = os.path.abspath(args.home or host_mod.default_home())
    state_dir = getattr(args, "state_dir", None) or host_mod.state_dir(home)
    try:
        if args.command == "serve":
            return _serve(args, state_dir)
        if args.command == "up":
            return _up(args, home, state_dir)
        if args.command == "down":
            return _down(home, state_dir)
        return _status(state_dir)
    except St2MistralError as exc:
        _say("st2mistral-local: %s" % exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
