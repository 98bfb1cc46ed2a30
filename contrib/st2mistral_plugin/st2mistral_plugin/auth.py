"""Mistral auth plugin `st2` (`[DEFAULT] auth_type = st2`): every API call needs a StackStorm
token (X-Auth-Token) or API key (St2-Api-Key) that StackStorm itself accepts."""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Mapping, Optional, Tuple

from mistral import auth as mistral_auth
from mistral import exceptions as mistral_exc

from mistral_v2.exceptions import St2MistralError
from st2mistral_plugin import config, st2_api

LOG = logging.getLogger(__name__)

TOKEN_HEADER = "X-Auth-Token"
API_KEY_HEADER = "St2-Api-Key"
# The Mistral project every StackStorm-authenticated call runs in: the one Mistral uses when
# authentication is off, so executions created before auth was switched on stay visible.
PROJECT_ID = "<default-project>"
# Identity headers a caller could forge; the plugin replaces them after validating the caller.
_IDENTITY_ENVIRON = ("HTTP_X_PROJECT_ID", "HTTP_X_TENANT_ID", "HTTP_X_USER_ID", "HTTP_X_USER_NAME",
                     "HTTP_X_ROLES", "HTTP_X_ROLE", "HTTP_X_IDENTITY_STATUS", "HTTP_X_SERVICE_IDENTITY_STATUS",
                     "HTTP_X_PROJECT_NAME", "HTTP_X_DOMAIN_ID", "HTTP_X_IS_ADMIN_PROJECT")
_CREDENTIAL_ENVIRON = ("HTTP_X_AUTH_TOKEN", "HTTP_ST2_API_KEY")
_MAX_CACHED = 10000


def credentials(headers: Mapping[str, str]) -> Optional[Tuple[str, str]]:
    """(header name, value) of the StackStorm credential a request carries, or None."""
    for name in (TOKEN_HEADER, API_KEY_HEADER):
        value = headers.get(name)
        if value:
            return name, value
    return None


class Validator:
    """Asks StackStorm whether a credential is valid; remembers positive answers `ttl` seconds."""

    def __init__(self, ask: Callable[[str, str], bool], ttl: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ask = ask
        self._ttl = ttl
        self._clock = clock
        self._valid: "OrderedDict[str, float]" = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, header: str, value: str) -> bool:
        key = hashlib.sha256(("%s\0%s" % (header, value)).encode()).hexdigest()
        now = self._clock()
        with self._lock:
            until = self._valid.get(key)
            if until is not None and until > now:
                return True
            self._valid.pop(key, None)
        if not self._ask(header, value):
            return False
        if self._ttl > 0:
            with self._lock:
                self._valid[key] = now + self._ttl
                while len(self._valid) > _MAX_CACHED:
                    self._valid.popitem(last=False)
        return True


def ask_stackstorm(header: str, value: str) -> bool:
    """True when StackStorm answers 200 to a small authenticated GET made with this credential."""
    url = "%s/executions" % st2_api.api_url(None)
    resp = st2_api.request("GET", url, headers={header: value},
                           params={"limit": 1, "include_attributes": "id"})
    if resp.status_code == 200:
        return True
    if resp.status_code not in (401, 403):
        LOG.warning("st2 auth: StackStorm answered HTTP %s to a credential check", resp.status_code)
    return False


_VALIDATOR: Optional[Validator] = None
_VALIDATOR_LOCK = threading.Lock()


def validator() -> Validator:
    """The process-wide validator ([st2] auth_cache_ttl seconds of caching)."""
    global _VALIDATOR
    with _VALIDATOR_LOCK:
        if _VALIDATOR is None:
            _VALIDATOR = Validator(ask_stackstorm, float(config.get("auth_cache_ttl")))
        return _VALIDATOR


def set_identity(environ: Any) -> None:
    """Replace caller-sent identity headers with ours and drop the credential itself, so Mistral's
    security context (stored with scheduled jobs) never holds a StackStorm token or key."""
    for name in _IDENTITY_ENVIRON + _CREDENTIAL_ENVIRON:
        environ.pop(name, None)
    environ["HTTP_X_PROJECT_ID"] = PROJECT_ID


class St2AuthHandler(mistral_auth.AuthHandler):
    """Entry point `st2` of `mistral.auth`."""

    def authenticate(self, req: Any) -> None:
        found = credentials(req.headers)
        if found is None:
            raise mistral_exc.UnauthorizedException(
                "Authentication required: send a StackStorm token (X-Auth-Token) or API key (St2-Api-Key)")
        try:
            valid = validator()(*found)
        except St2MistralError as exc:
            LOG.error("st2 auth: cannot check a credential with StackStorm: %s", exc)
            raise mistral_exc.UnauthorizedException("StackStorm cannot be asked to check the credential")
        if not valid:
            raise mistral_exc.UnauthorizedException("StackStorm does not accept this %s" % found[0])
        set_identity(req.environ)
