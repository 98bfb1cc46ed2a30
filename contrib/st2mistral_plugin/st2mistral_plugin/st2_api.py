"""Calls to the StackStorm REST API from inside Mistral: auth headers, retries with back-off."""
from __future__ import annotations

import logging
from typing import Any, Dict, Mapping, Optional

import requests
import tenacity

from mistral_v2 import retries
from mistral_v2.exceptions import ConfigurationError, StackStormAPIError
from st2mistral_plugin import config

LOG = logging.getLogger(__name__)

_SESSION = requests.Session()


class _ServerError(Exception):
    """A 5xx answer; retried like a connection error."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__("HTTP %s" % response.status_code)
        self.response = response


_RETRYABLE = (requests.ConnectionError, requests.Timeout, _ServerError)


def auth_headers(st2_context: Optional[Mapping[str, Any]]) -> Dict[str, str]:
    """X-Auth-Token from the workflow's st2_context, else St2-Api-Key from it or [st2] api_key."""
    ctx = st2_context or {}
    if ctx.get("auth_token"):
        return {"X-Auth-Token": str(ctx["auth_token"])}
    api_key = ctx.get("api_key") or config.get("api_key")
    if api_key:
        return {"St2-Api-Key": str(api_key)}
    return {}


def api_url(st2_context: Optional[Mapping[str, Any]]) -> str:
    """StackStorm API base URL (incl. /api/v1) from the st2_context, else [st2] api_url."""
    url = (st2_context or {}).get("api_url") or config.get("api_url")
    if not url:
        raise ConfigurationError(
            "No StackStorm API URL: the workflow env has no __actions['st2.action'].st2_context"
            ".api_url and [st2] api_url is not set"
        )
    return str(url).rstrip("/")


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _RETRYABLE)


def _retrying(method: str, url: str) -> tenacity.Retrying:
    def _log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        LOG.warning("StackStorm API %s %s failed (attempt %s): %s; retrying",
                    method, url, state.attempt_number, exc if isinstance(exc, _ServerError)
                    else type(exc).__name__)

    return retries.build(_retryable,
                         attempts=config.get("retry_attempts"),
                         exp_msec=config.get("retry_exp_msec"),
                         exp_max_msec=config.get("retry_exp_max_msec"),
                         stop_max_msec=config.get("retry_stop_max_msec"),
                         before_sleep=_log_retry)


def _send(method: str, url: str, **kwargs: Any) -> requests.Response:
    resp = _SESSION.request(method, url, timeout=config.get("request_timeout"), **kwargs)
    if resp.status_code >= 500:
        raise _ServerError(resp)
    return resp


def request(method: str, url: str, *, headers: Optional[Mapping[str, str]] = None,
            json_body: Any = None, params: Optional[Mapping[str, Any]] = None) -> requests.Response:
    """Send one request, retried on connection errors, timeouts and 5xx.

    Returns the response for any status below 500; raises StackStormAPIError once retries are
    exhausted. Headers (they carry the token) are never logged.
    """
    hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
    hdrs.update(headers or {})
    try:
        for attempt in _retrying(method, url):
            with attempt:
                return _send(method, url, headers=hdrs, json=json_body, params=params)
    except _ServerError as exc:
        error = StackStormAPIError("StackStorm API %s %s failed with HTTP %s after retries: %s"
                                   % (method, url, exc.response.status_code, _brief(exc.response)))
        error.response = exc.response  # type: ignore[attr-defined]
        raise error from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise StackStormAPIError("StackStorm API %s %s unreachable after retries (%s)"
                                 % (method, url, type(exc).__name__)) from None
    raise AssertionError("unreachable")  # pragma: no cover


def check(resp: requests.Response, what: str) -> Any:
    """The JSON body of a 2xx answer; StackStormAPIError naming `what` and the status otherwise."""
    if 200 <= resp.status_code < 300:
        try:
            return resp.json() if resp.content else None
        except ValueError:
            raise StackStormAPIError("%s: StackStorm answered HTTP %s with a non-JSON body"
                                     % (what, resp.status_code)) from None
    error = StackStormAPIError("%s: StackStorm answered HTTP %s: %s"
                               % (what, resp.status_code, _brief(resp)))
    error.response = resp  # type: ignore[attr-defined]
    raise error


def response_facts(resp: requests.Response) -> Dict[str, Any]:
    """The HTTP answer as st2mistral's st2.action put it in a failed task's result: `content`
    (JSON when it parses, else text), `status`, `headers`, `url`, `reason`, `encoding`,
    `elapsed` (s), `cookies`, `history` (URLs of redirects) - all JSON-safe."""
    try:
        content: Any = resp.json()
    except ValueError:
        content = resp.text
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


def _brief(resp: requests.Response, limit: int = 300) -> str:
    try:
        body = resp.json()
        text = body.get("faultstring") if isinstance(body, dict) else None
        text = text or resp.text
    except ValueError:
        text = resp.text
    return (text or "").strip()[:limit]
