"""`st2mistral-server`: venv / up / down / status for a background Mistral server."""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from mistral_v2.exceptions import St2MistralError
from st2mistral_server import server
from st2mistral_server.venv import ensure_venv


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="st2mistral-server",
                                     description="Run a real Mistral 23.0.0 for st2-mistral.")
    parser.add_argument("--home", help="state directory (default $ST2MISTRAL_HOME or ~/.st2mistral)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("venv", help="create or refresh the Mistral virtualenv; print its path")
    up = sub.add_parser("up", help="start Mistral in the background (no-op when already up)")
    up.add_argument("--mode", choices=server.MODES, default="embedded")
    up.add_argument("--port", type=int, help="API port on 127.0.0.1 (default: a free one)")
    auth = up.add_mutually_exclusive_group()
    auth.add_argument("--st2-api-url", help="StackStorm API (incl. /api/v1) that checks the token or "
                      "API key of every Mistral API call (authentication is on by default)")
    auth.add_argument("--no-auth", action="store_true",
                      help="run Mistral without authentication (anyone reaching its port may use it)")
    sub.add_parser("down", help="stop the background Mistral (no-op when not running)")
    st = sub.add_parser("status", help="show the background Mistral; exit 3 when not running")
    st.add_argument("--json", action="store_true", help="print the state as JSON")
    return parser


def _up(args: argparse.Namespace) -> int:
    if not args.st2_api_url and not args.no_auth:
        print("st2mistral-server: Mistral authenticates every API call with StackStorm: give "
              "--st2-api-url http://<st2>/api/v1, or --no-auth to run it open", file=sys.stderr)
        return 2
    current = server.read_state(args.home)
    if current is not None and current.running():
        if current.mode != args.mode:
            print(f"Mistral is already running in {current.mode} mode at {current.url}; "
                  "run `st2mistral-server down` first", file=sys.stderr)
            return 1
        print(f"Mistral ({current.mode}) already running at {current.url}")
        return 0
    if current is not None:  # stale: processes died; clean up what is left
        server.stop(current)
        server.clear_state(args.home)
    info = server.start(mode=args.mode, home=args.home, port=args.port, st2_api_url=args.st2_api_url)
    server.write_state(info, args.home)
    print(f"Mistral ({info.mode}) running at {info.url} (pids {' '.join(map(str, info.pids))}); "
          f"logs in {info.run_dir}")
    return 0


def _down(args: argparse.Namespace) -> int:
    current = server.read_state(args.home)
    if current is None:
        print("Mistral is not running")
        return 0
    server.stop(current)
    server.clear_state(args.home)
    print(f"Mistral ({current.mode}) at {current.url} stopped")
    return 0


def _status(args: argparse.Namespace) -> int:
    current = server.read_state(args.home)
    running = server.status(args.home) is not None
    if args.json:
        print(json.dumps({"running": running, "server": current.to_dict() if current else None}))
    elif current is None:
        print("Mistral is not running")
    elif running:
        print(f"Mistral ({current.mode}) running at {current.url}; pids "
              f"{' '.join(map(str, current.pids))}; logs in {current.run_dir}")
    else:
        print(f"Mistral ({current.mode}) at {current.url} is NOT healthy (dead process or API "
              "not answering); run `st2mistral-server down`")
    return 0 if running else 3


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the `st2mistral-server` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "venv":
            print(ensure_venv(args.home))
            return 0
        return {"up": _up, "down": _down, "status": _status}[args.command](args)
    except St2MistralError as exc:
        print(f"st2mistral-server: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
