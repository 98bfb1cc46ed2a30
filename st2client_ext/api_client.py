"""HTTP calls of `st2-mistral` to the StackStorm API: auth headers, retries on connection errors and 5xx."""
from __future__ import annotations

from typing import Any, Dict, Optional

import requests
import tenacity

from mistral_v2 import config
from mistral_v2.exceptions import StackStormAPIError


class ApiFailure(StackStormAPIError):
    """The API answered with an error; `status_code` and the parsed `body` are kept for the caller."""

    def __init__(self, message: str, status_code: int, body: Any) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class _Transient(Exception):
    """A 5xx answer, retried like a connection error."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__("HTTP %d" % response.status_code)
        self.response = response


CLI_ATTEMPTS = 5


class StackStormHTTP:
    """GET/POST against the StackStorm API base URL (…/api/v1) with the CLI's credentials."""

    def __init__(self, api_url: str, token: Optional[str] = None, api_key: Optional[str] = None,
                 verify: Any = True, timeout: Optional[float] = None, attempts: Optional[int] = None,
                 backoff_ms: Optional[int] = None, max_backoff_ms: Optional[int] = None) -> None:
        opts = config.get()
        self.api_url = api_url.rstrip("/")
        self.verify = verify
        self.timeout = timeout if timeout is not None else float(opts.request_timeout)
        # The CLI keeps a small attempt limit when [mistral] retry_attempts is unset (its default):
        # a person is waiting.
        self.attempts = attempts if attempts is not None else int(opts.retry_attempts or CLI_ATTEMPTS)
        self.backoff = (backoff_ms if backoff_ms is not None else int(opts.retry_exp_msec)) / 1000.0
        self.max_backoff = (max_backoff_ms if max_backoff_ms is not None else int(opts.retry_exp_max_msec)) / 1000.0
        self.session = requests.Session()
        if token:
            self.session.headers["X-Auth-Token"] = token
        elif api_key:
            self.session.headers["St2-Api-Key"] = api_key

    def request(self, method: str, path: str, json: Optional[Dict[str, Any]] = None) -> Any:
        """The decoded JSON answer of `method path`; ApiFailure on 4xx, StackStormAPIError when
        the API stays unreachable or failing after the retries."""
        url = "%s/%s" % (self.api_url, path.lstrip("/"))
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((requests.ConnectionError, requests.Timeout, _Transient)),
            stop=tenacity.stop_after_attempt(max(1, self.attempts)),
            wait=tenacity.wait_exponential(multiplier=self.backoff, max=max(self.max_backoff, self.backoff)),
            reraise=True)

        def once() -> requests.Response:
            resp = self.session.request(method, url, json=json, timeout=self.timeout, verify=self.verify)
            if resp.status_code >= 500:
                raise _Transient(resp)
            return resp

        try:
            resp = retrying(once)
        except _Transient as exc:
            raise StackStormAPIError("%s %s failed: HTTP %d %s" % (
                method, url, exc.response.status_code, _fault(exc.response))) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise StackStormAPIError("Cannot reach the StackStorm API at %s: %s" % (self.api_url, exc)) from None
        if resp.status_code >= 400:
            raise ApiFailure(_fault(resp) or "HTTP %d" % resp.status_code, resp.status_code, _body(resp))
        return _body(resp)

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, json: Dict[str, Any]) -> Any:
        return self.request("POST", path, json=json)


def _body(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text


def _fault(resp: requests.Response) -> str:
    body = _body(resp)
    if isinstance(body, dict) and body.get("faultstring"):
        return str(body["faultstring"])
    return str(body)[:500] if body else ""
