"""The one StackStorm REST client: auth header, timeout, retries on connection errors, timeouts and 5xx.

Used by the runner's cascade (and the sync service), the Mistral plugin (`st2.action`, pushes,
`st2kv`) and the `st2-mistral` CLI additions; every failure is a StackStormAPIError.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional

import requests
import tenacity

from mistral_v2.exceptions import StackStormAPIError

# Builds the retry policy for a predicate saying which errors are worth retrying (retries.py).
RetryPolicy = Callable[[Callable[[BaseException], bool]], tenacity.Retrying]


def auth_header(auth_token: Optional[str] = None, api_key: Optional[str] = None) -> Dict[str, str]:
    """X-Auth-Token when there is a token, else St2-Api-Key when there is a key, else nothing."""
    if auth_token:
        return {"X-Auth-Token": str(auth_token)}
    if api_key:
        return {"St2-Api-Key": str(api_key)}
    return {}


def body_of(resp: requests.Response) -> Any:
    """The decoded JSON body of an answer, or its text when it is not JSON."""
    try:
        return resp.json()
    except ValueError:
        return resp.text


def fault(resp: requests.Response, limit: int = 500) -> str:
    """StackStorm's message in an answer: its `faultstring`, else the body text (shortened)."""
    body = body_of(resp) if resp.content else ""
    if isinstance(body, dict) and body.get("faultstring"):
        return str(body["faultstring"])
    return str(body or "").strip()[:limit]


class _ServerError(Exception):
    """A 5xx answer: retried like a connection error."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__("HTTP %s" % response.status_code)
        self.response = response


def is_transient(exc: BaseException) -> bool:
    """Connection errors, timeouts and 5xx answers are worth retrying; an untrusted certificate
    stays untrusted (SSLError is a ConnectionError), it is not retried."""
    return (isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, _ServerError))
            and not isinstance(exc, requests.exceptions.SSLError))


def _ssl_reason(exc: BaseException) -> str:
    return "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else type(exc).__name__


class St2Rest:
    """Requests to one StackStorm API (base URL incl. /api/v1); paths may also be full URLs.

    Headers (they carry the token or API key) are never logged nor put in messages.
    """

    def __init__(self, api_url: str, retry_policy: RetryPolicy, *, headers: Optional[Mapping[str, str]] = None,
                 timeout: Optional[float] = None, session: Optional[requests.Session] = None,
                 verify: Any = None, tls_hint: str = "") -> None:
        self.api_url = (api_url or "").rstrip("/")
        self.retry_policy = retry_policy
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.session = session or requests.Session()
        self.verify = verify
        self.tls_hint = tls_hint  # how to fix a refused certificate, said with the TLS error

    def url(self, path: str) -> str:
        """`path` below the API base URL (a full URL is kept as it is)."""
        if path.startswith(("http://", "https://")):
            return path
        return "%s/%s" % (self.api_url, path.lstrip("/"))

    def send(self, method: str, path: str, *, json: Any = None, params: Optional[Mapping[str, Any]] = None,
             headers: Optional[Mapping[str, str]] = None) -> requests.Response:
        """The answer (any status below 500) of `method path`, after retries of connection errors,
        timeouts and 5xx; StackStormAPIError naming the call once the retries are spent."""
        url = self.url(path)
        hdrs = dict(self.headers)
        hdrs.update(headers or {})
        options: Dict[str, Any] = {"headers": hdrs, "timeout": self.timeout}
        if json is not None:
            options["json"] = json
        if params is not None:
            options["params"] = params
        if self.verify is not None:
            options["verify"] = self.verify

        def once() -> requests.Response:
            resp = self.session.request(method, url, **options)
            if resp.status_code >= 500:
                raise _ServerError(resp)
            return resp

        retrying = self.retry_policy(is_transient)
        try:
            return retrying(once)
        except _ServerError as exc:
            raise StackStormAPIError("StackStorm API %s %s failed with HTTP %s after retries: %s (%d attempt(s))" % (
                method, url, exc.response.status_code, fault(exc.response), _attempts(retrying)),
                response=exc.response) from None
        except requests.exceptions.SSLError as exc:
            raise StackStormAPIError("StackStorm API %s %s: TLS failed (%s)%s" % (
                method, url, _ssl_reason(exc), "; " + self.tls_hint if self.tls_hint else "")) from None
        except requests.exceptions.RequestException as exc:
            raise StackStormAPIError("StackStorm API %s %s unreachable after retries (%s, %d attempt(s))" % (
                method, url, type(exc).__name__, _attempts(retrying))) from None

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer of `method path` (None when empty); a 4xx raises
        StackStormAPIError with StackStorm's message, `status_code` and `body`."""
        resp = self.send(method, path, **kwargs)
        if resp.status_code >= 400:
            raise StackStormAPIError("StackStorm refused %s %s (HTTP %s): %s"
                                     % (method, path, resp.status_code, fault(resp)),
                                     status_code=resp.status_code, body=body_of(resp), response=resp)
        return body_of(resp) if resp.content else None


def _attempts(retrying: tenacity.Retrying) -> int:
    return int(retrying.statistics.get("attempt_number") or 1)
