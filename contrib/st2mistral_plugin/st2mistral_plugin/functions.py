"""`st2kv(key, decrypt=False)`: reads a StackStorm datastore value in YAQL and Jinja expressions."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple
from urllib.parse import quote

from mistral_v2.exceptions import InvalidParametersError, StackStormAPIError
from st2mistral_plugin import st2_api
from st2mistral_plugin.expressions.base import expression_function

SYSTEM_PREFIX = "system."
USER_PREFIX = "user."

_MISSING = object()


def parse_key(key: Any) -> Tuple[str, str]:
    """(scope, name) for 'system.x' -> ('system', 'x'); 'user.x' or 'x' -> ('user', 'x')."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidParametersError("st2kv: key must be a non-empty string, got %r" % (key,))
    key = key.strip()
    for prefix, scope in ((SYSTEM_PREFIX, "system"), (USER_PREFIX, "user")):
        if key.startswith(prefix):
            name = key[len(prefix):]
            if not name:
                raise InvalidParametersError("st2kv: key %r has a scope but no name" % key)
            return scope, name
    return "user", key


def _st2_context(context: Any) -> Mapping[str, Any]:
    try:
        env = context["__env"] or {}
    except (KeyError, TypeError):
        env = {}
    st2_ctx = ((env.get("__actions") or {}).get("st2.action") or {}).get("st2_context")
    return st2_ctx if isinstance(st2_ctx, Mapping) else {}


def get_value(st2_context: Mapping[str, Any], key: str, decrypt: bool = False,
              default: Any = _MISSING) -> Any:
    """The value of datastore `key` via GET /keys/<name>; `default` (if given) when absent."""
    if not isinstance(decrypt, bool):
        raise InvalidParametersError("st2kv: decrypt must be true or false, got %r" % (decrypt,))
    scope, name = parse_key(key)
    url = "%s/keys/%s" % (st2_api.api_url(st2_context), quote(name, safe=""))
    params: Dict[str, str] = {"scope": scope, "decrypt": "true" if decrypt else "false"}
    resp = st2_api.request("GET", url, headers=st2_api.auth_headers(st2_context), params=params)
    if resp.status_code == 404:
        if default is not _MISSING:
            return default
        raise StackStormAPIError("st2kv: key %r does not exist in the StackStorm datastore "
                                 "(%s scope)" % (name, scope))
    body = st2_api.check(resp, "st2kv: reading key %r" % name)
    return (body or {}).get("value")


@expression_function
def st2kv_(context: Any, key: str, decrypt: bool = False, default: Any = _MISSING) -> Any:
    """Expression function: st2kv('system.k'), st2kv('k', decrypt=true), st2kv('k', default=1)."""
    return get_value(_st2_context(context), key, decrypt, default)
