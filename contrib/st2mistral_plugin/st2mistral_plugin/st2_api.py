"""Calls to the StackStorm REST API from inside Mistral: auth headers, URL, the one REST client with `[st2]` retries."""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Mapping, Optional

import requests
import tenacity

from mistral_v2 import retries, st2_rest
from mistral_v2.exceptions import ConfigurationError, StackStormAPIError
from st2mistral_plugin import config

LOG = logging.getLogger(__name__)

_SESSION = requests.Session()

# Said with a refused certificate.
TLS_HINT = ("for a self-signed StackStorm certificate set [st2] cacert = <its CA/certificate PEM file> "
            "(or [st2] insecure = true) in Mistral's config")


def auth_headers(st2_context: Optional[Mapping[str, Any]]) -> Dict[str, str]:
    """X-Auth-Token from the workflow's st2_context, else St2-Api-Key from it or [st2] api_key."""
    ctx = st2_context or {}
    return st2_rest.auth_header(ctx.get("auth_token"), ctx.get("api_key") or config.get("api_key"))


def api_url(st2_context: Optional[Mapping[str, Any]]) -> str:
    """StackStorm API base URL (incl. /api/v1) from the st2_context, else [st2] api_url."""
    url = (st2_context or {}).get("api_url") or config.get("api_url")
    if not url:
        raise ConfigurationError(
            "No StackStorm API URL: the workflow env has no __actions['st2.action'].st2_context"
            ".api_url and [st2] api_url is not set"
        )
    return str(url).rstrip("/")


def _retrying(retry_if: Callable[[BaseException], bool]) -> tenacity.Retrying:
    def _log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        detail = type(exc).__name__ if isinstance(exc, requests.RequestException) else str(exc)  # "HTTP 503"
        LOG.warning("StackStorm API call failed (attempt %s): %s; retrying", state.attempt_number, detail)

    return retries.build(retry_if,
                         attempts=config.get("retry_attempts"),
                         exp_msec=config.get("retry_exp_msec"),
                         exp_max_msec=config.get("retry_exp_max_msec"),
                         stop_max_msec=config.get("retry_stop_max_msec"),
                         before_sleep=_log_retry)


def request(method: str, url: str, *, headers: Optional[Mapping[str, str]] = None,
            json_body: Any = None, params: Optional[Mapping[str, Any]] = None) -> requests.Response:
    """Send one request through the one StackStorm REST client (st2_rest), retried on connection
    errors, timeouts and 5xx with the `[st2]` numbers.

    Returns the response for any status below 500; raises StackStormAPIError once retries are
    exhausted. Headers (they carry the token) are never logged.
    """
    rest = st2_rest.St2Rest("", _retrying, headers={"Content-Type": "application/json", "Accept": "application/json"},
                            timeout=config.get("request_timeout"), session=_SESSION, verify=config.tls_verify(),
                            tls_hint=TLS_HINT)
    return rest.send(method, url, json=json_body, params=params, headers=headers)


def check(resp: requests.Response, what: str) -> Any:
    """The JSON body of a 2xx answer; StackStormAPIError naming `what` and the status otherwise."""
    if 200 <= resp.status_code < 300:
        try:
            return resp.json() if resp.content else None
        except ValueError:
            raise StackStormAPIError("%s: StackStorm answered HTTP %s with a non-JSON body"
                                     % (what, resp.status_code)) from None
    raise StackStormAPIError("%s: StackStorm answered HTTP %s: %s"
                             % (what, resp.status_code, st2_rest.fault(resp, 300)), resp.status_code,
                             st2_rest.body_of(resp), response=resp)


def response_facts(resp: requests.Response) -> Dict[str, Any]:
    """The HTTP answer as st2mistral's st2.action put it in a failed task's result: `content`
    (JSON when it parses, else text), `status`, `headers`, `url`, `reason`, `encoding`,
    `elapsed` (s), `cookies`, `history` (URLs of redirects) - all JSON-safe."""
    content = st2_rest.body_of(resp)
    elapsed = getattr(resp, "elapsed", None)
    return {
        "content": content,
        "status": resp.status_code,
        "headers": dict(resp.headers.items()),
        "url": resp.url,
        "reason": resp.reason,
        "encoding": resp.encoding,
        "elapsed": elapsed.total_seconds() if elapsed is not None else None,
        "cookies": dict(resp.cookies.items()),
        "history": [r.url for r in resp.history],
    }
