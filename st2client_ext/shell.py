"""`st2-mistral` command line: tree, context, resume-next, rerun-check and reply, with the st2 CLI's config."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import requests

from mistral_v2 import masking
from mistral_v2.exceptions import InvalidParametersError, St2MistralError, StackStormAPIError
from st2client_ext import formatting
from st2client_ext.api_client import StackStormHTTP

EXT = "mistral/executions"
# The route every server of the st2-mistral routes answers (the local host; st2api with the compat layer).
EXT_INFO = "mistral/extensions"
NOT_SERVED = ("this StackStorm (%s) does not serve the st2-mistral routes (/mistral/...): enable the compat "
              "layer with StackStorm's virtualenv (/opt/stackstorm/st2/bin/st2-mistral-compat enable) and "
              "restart st2api (st2ctl restart)")


def parse_assignments(items: Optional[Sequence[str]], what: str = "-p") -> Dict[str, Any]:
    """["a=1", "t.b=x"] -> {"a": 1, "t.b": "x"}; values that parse as JSON are used as such."""
    out: Dict[str, Any] = {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise InvalidParametersError('%s expects name=value, got "%s".' % (what, item))
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out[name.strip()] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (st2's connection options plus the subcommands)."""
    parser = argparse.ArgumentParser(prog="st2-mistral", description=__doc__)
    parser.add_argument("--url", dest="base_url", help="StackStorm base URL (default $ST2_BASE_URL / config)")
    parser.add_argument("--api-url", dest="api_url", help="API URL incl. /api/v1 (default $ST2_API_URL / config)")
    parser.add_argument("--auth-url", dest="auth_url", help="auth URL (default $ST2_AUTH_URL / config)")
    parser.add_argument("--cacert", help="CA bundle for TLS, or false to skip verification")
    parser.add_argument("--config-file", help="st2 CLI config (default $ST2_CONFIG_FILE or ~/.st2/config)")
    parser.add_argument("--skip-config", action="store_true", default=False, help="ignore the st2 CLI config file")
    parser.add_argument("-t", "--token", help="auth token (default $ST2_AUTH_TOKEN)")
    parser.add_argument("--api-key", help="API key (default $ST2_API_KEY)")
    parser.add_argument("-j", "--json", action="store_true", help="print the API answer as JSON")
    sub = parser.add_subparsers(dest="command", required=True)

    tree = sub.add_parser("tree", help="the task tree of a workflow execution (subworkflows, child actions)")
    tree.add_argument("execution_id")

    ctx = sub.add_parser("context", help="the inbound context of a task (dotted names for nested tasks)")
    ctx.add_argument("execution_id")
    ctx.add_argument("task")

    resume = sub.add_parser("resume-next", help="continue after failed tasks from their next tasks")
    resume.add_argument("execution_id")
    resume.add_argument("--tasks", nargs="+", required=True, help="the failed tasks to continue after")
    resume.add_argument("-p", "--param", dest="params", action="append", default=[], metavar="VAR=VALUE",
                        help="a variable a failed task would have published: var=value (all tasks) or task.var=value")
    resume.add_argument("-c", "--context", dest="context", action="append", default=[], metavar="NAME=VALUE",
                        help="an env() variable for the resumed tasks")

    check = sub.add_parser("rerun-check", help="what `st2 execution re-run --tasks` would do, changing nothing")
    check.add_argument("execution_id")
    check.add_argument("--tasks", nargs="+", required=True)
    check.add_argument("--no-reset", nargs="+", default=None, help="with-items tasks to re-run without reset")

    reply = sub.add_parser("reply", help="the chat reply of an action-alias execution")
    reply.add_argument("execution_id")
    reply.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                       help="wait up to SECONDS for the execution to complete")
    return parser


def make_http(args: argparse.Namespace) -> StackStormHTTP:
    """An HTTP client configured exactly as the stock `st2` CLI would be (its config parser and Client)."""
    from st2client.base import BaseCLIApp
    from st2client.config import set_config

    class _App(BaseCLIApp):
        pass

    app = _App()
    args.func = None
    if not args.skip_config:  # as the st2 shell does before get_client (credentials login reads it)
        set_config(config=app._parse_config_file(args=args, validate_config_permissions=False))
    client = app.get_client(args)
    token = client.token or os.environ.get("ST2_AUTH_TOKEN")
    api_key = getattr(client, "api_key", None) or os.environ.get("ST2_API_KEY")
    verify: Any = client.cacert if client.cacert not in (None, "") else True
    return StackStormHTTP(client.endpoints["api"], token=token, api_key=api_key, verify=verify)


def _print(args: argparse.Namespace, value: Any, text: str) -> None:
    """Print the answer (JSON or text), credential-named values masked even if a server sent them."""
    print(formatting.format_json(masking.mask(value)) if args.json else masking.mask_text(text))


def _served(http: StackStormHTTP) -> bool:
    """False when the API has no st2-mistral routes at all (its 404 then is not about an execution)."""
    try:
        http.get(EXT_INFO)
    except StackStormAPIError as exc:
        return exc.status_code != 404
    return True


def ext_call(http: StackStormHTTP, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
    """One call of an st2-mistral route; a 404 of an API without those routes says what to do."""
    try:
        return http.request(method, "%s/%s" % (EXT, path), json=body)
    except StackStormAPIError as exc:
        if exc.status_code == 404 and not _served(http):
            raise StackStormAPIError(NOT_SERVED % http.api_url, 404, exc.body) from None
        raise


def run(args: argparse.Namespace, http: StackStormHTTP) -> int:
    """Execute one parsed command; returns the exit code."""
    ex = args.execution_id
    if args.command == "tree":
        tree = ext_call(http, "GET", "%s/tree" % ex)
        _print(args, tree, formatting.format_tree(tree))
        return 0
    if args.command == "context":
        view = ext_call(http, "GET", "%s/tasks/%s/context" % (ex, args.task))
        _print(args, view, formatting.format_context(view))
        return 0
    if args.command == "resume-next":
        body = {"tasks": args.tasks, "variables": parse_assignments(args.params),
                "context": parse_assignments(args.context, "-c")}
        try:
            new = ext_call(http, "POST", "%s/resume_next" % ex, body)
        except StackStormAPIError as exc:
            if exc.status_code == 400 and isinstance(exc.body, dict):
                _print(args, exc.body, formatting.format_missing(exc.body))
                return 1
            raise
        _print(args, new, "Resumed: execution %s (%s) continues %s after %s.\nTo follow it: st2 execution get %s" % (
            new["id"], new["status"], ex, ", ".join(args.tasks), new["id"]))
        return 0
    if args.command == "rerun-check":
        check = ext_call(http, "POST", "%s/rerun_check" % ex, {"tasks": args.tasks, "no_reset": args.no_reset})
        _print(args, check, formatting.format_rerun_check(check))
        return 0 if check.get("ok") else 1
    if args.command == "reply":
        deadline = time.monotonic() + max(0.0, args.wait)
        reply = http.get("aliasexecution/%s/reply" % ex)
        while not reply.get("completed") and time.monotonic() < deadline:
            time.sleep(0.5)
            reply = http.get("aliasexecution/%s/reply" % ex)
        _print(args, reply, formatting.format_reply(reply))
        return 0 if reply.get("completed") else 1
    raise InvalidParametersError("Unknown command %s" % args.command)  # pragma: no cover - argparse refuses


def main(argv: Optional[List[str]] = None) -> int:
    """Console script entry point."""
    args = build_parser().parse_args(argv)
    # st2client logs its own login failures with tracebacks; our message below says what failed.
    logging.getLogger("st2client").setLevel(logging.CRITICAL)
    try:
        http = make_http(args)
    except requests.RequestException as exc:
        print("ERROR: cannot log in with the credentials of the st2 CLI config: %s" % exc, file=sys.stderr)
        return 1
    except (St2MistralError, ValueError) as exc:
        print("ERROR: %s" % exc, file=sys.stderr)
        return 1
    try:
        return run(args, http)
    except StackStormAPIError as exc:
        print("ERROR: %s%s" % (exc, " (HTTP %d)" % exc.status_code if exc.status_code else ""), file=sys.stderr)
        return 1
    except (St2MistralError, ValueError) as exc:
        print("ERROR: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
