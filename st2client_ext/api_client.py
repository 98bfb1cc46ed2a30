"""HTTP calls of `st2-mistral` to the StackStorm API: the one StackStorm REST client with the CLI's credentials."""
from __future__ import annotations

from typing import Any, Dict, Optional

import requests

from mistral_v2 import config, retries, st2_rest
from mistral_v2.exceptions import StackStormAPIError

# The CLI keeps a small attempt limit when [mistral] retry_attempts is unset (its default): a person
# is waiting.
CLI_ATTEMPTS = 5


class StackStormHTTP:
    """GET/POST against the StackStorm API base URL (…/api/v1) with the CLI's credentials."""

    def __init__(self, api_url: str, token: Optional[str] = None, api_key: Optional[str] = None,
                 verify: Any = True, timeout: Optional[float] = None, attempts: Optional[int] = None,
                 backoff_ms: Optional[int] = None, max_backoff_ms: Optional[int] = None) -> None:
        opts = config.get()
        self.api_url = api_url.rstrip("/")
        attempts = attempts if attempts is not None else int(opts.retry_attempts or CLI_ATTEMPTS)
        backoff = backoff_ms if backoff_ms is not None else int(opts.retry_exp_msec)
        max_backoff = max(max_backoff_ms if max_backoff_ms is not None else int(opts.retry_exp_max_msec), backoff)
        self.session = requests.Session()
        self.session.headers.update(st2_rest.auth_header(token, api_key))
        self.rest = st2_rest.St2Rest(
            self.api_url,
            lambda retry_if: retries.build(retry_if, attempts=max(1, attempts), exp_msec=backoff,
                                           exp_max_msec=max_backoff, stop_max_msec=int(opts.retry_stop_max_msec)),
            session=self.session, verify=verify,
            timeout=timeout if timeout is not None else float(opts.request_timeout))

    def request(self, method: str, path: str, json: Optional[Dict[str, Any]] = None) -> Any:
        """The decoded JSON answer of `method path`; StackStormAPIError with StackStorm's message,
        `status_code` and `body` on a 4xx, without a status when the API stays unreachable or
        failing after the retries."""
        resp = self.rest.send(method, path, json=json)
        if resp.status_code >= 400:
            raise StackStormAPIError(st2_rest.fault(resp) or "HTTP %d" % resp.status_code, resp.status_code,
                                     st2_rest.body_of(resp))
        return st2_rest.body_of(resp)

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, json: Dict[str, Any]) -> Any:
        return self.request("POST", path, json=json)
