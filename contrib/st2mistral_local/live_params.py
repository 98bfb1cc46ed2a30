"""Jinja in supplied action parameters, rendered when an execution is created, as StackStorm's API does."""
from __future__ import annotations

import ast
import json
from typing import Any, Callable, Dict, Optional

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from mistral_v2.exceptions import InvalidParametersError, St2MistralError

# use_none's marker (st2mistral / StackStorm): a typed parameter given this string gets None.
NONE_MAGIC_VALUE = "%*****__%NONE%__*****%"

# (scope, key name) -> the stored value (ciphertext for secrets), or None when there is no such key.
KeyReader = Callable[[str, str], Optional[str]]
# (scope, key name, user) -> the same, user-scoped keys being those of `user`.
UserKeyReader = Callable[[str, str, str], Optional[str]]


class KeyLookup:
    """`st2kv.system.a.b` -> key 'a.b'; renders as the stored value, '' when absent (as StackStorm)."""

    def __init__(self, read: KeyReader, scope: str, name: str = "") -> None:
        self._read, self._scope, self._name = read, scope, name

    def _child(self, part: str) -> "KeyLookup":
        return KeyLookup(self._read, self._scope, "%s.%s" % (self._name, part) if self._name else part)

    def __getattr__(self, part: str) -> "KeyLookup":
        if part.startswith("_"):
            raise AttributeError(part)
        return self._child(part)

    def __getitem__(self, part: str) -> "KeyLookup":
        return self._child(str(part))

    def __str__(self) -> str:
        return (self._read(self._scope, self._name) or "") if self._name else ""

    @property
    def key_name(self) -> str:
        """The key this lookup names, for error messages."""
        return "st2kv.%s.%s" % (self._scope, self._name)


def _has_jinja(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_has_jinja(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_jinja(v) for v in value)
    return False


def _cast(kind: Any, text: str) -> Any:
    """A rendered string as the parameter's type (StackStorm's casts for live parameters)."""
    if text == NONE_MAGIC_VALUE:
        return None
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text)
    if kind == "boolean":
        return ast.literal_eval(text.capitalize())
    if kind in ("object", "array"):
        try:
            return json.loads(text)
        except ValueError:
            return ast.literal_eval(text)
    return text


class Renderer:
    """Renders the Jinja of supplied parameters with st2kv, action_context and the other parameters."""

    def __init__(self, read_key: UserKeyReader, decrypt: Callable[[str], str]) -> None:
        self._read_key = read_key
        self._decrypt = decrypt
        self._env = SandboxedEnvironment(undefined=jinja2.StrictUndefined)
        self._env.filters["decrypt_kv"] = self._decrypt_kv

    def _decrypt_kv(self, value: Any) -> str:
        text = str(value)
        if isinstance(value, KeyLookup) and text == "":
            raise InvalidParametersError('Referenced datastore item "%s" does not exist or is empty'
                                         % value.key_name)
        return self._decrypt(text)

    def _render(self, value: Any, context: Dict[str, Any]) -> Any:
        if isinstance(value, dict):
            return {k: self._render(v, context) for k, v in value.items()}
        if isinstance(value, list):
            return [self._render(v, context) for v in value]
        if isinstance(value, str) and _has_jinja(value):
            return self._env.from_string(value).render(context)
        return value

    def render(self, ref: str, schema: Dict[str, Any], supplied: Dict[str, Any],
               action_context: Dict[str, Any]) -> Dict[str, Any]:
        """`supplied` rendered, cast to the parameter types, use_none's marker as None; or InvalidParametersError."""
        context: Dict[str, Any] = {name: v for name, v in supplied.items() if not _has_jinja(v)}
        user = str(action_context.get("api_user") or action_context.get("user") or "")

        def read(scope: str, key: str) -> Optional[str]:
            return self._read_key(scope, key, user)

        context["st2kv"] = {"system": KeyLookup(read, "system"), "user": KeyLookup(read, "user")}
        context["action_context"] = action_context
        out: Dict[str, Any] = {}
        for name, value in supplied.items():
            kind = (schema.get(name) or {}).get("type") if isinstance(schema.get(name), dict) else None
            if not _has_jinja(value):
                out[name] = None if value == NONE_MAGIC_VALUE and kind else value
                continue
            try:
                rendered = self._render(value, context)
                out[name] = _cast(kind, rendered) if isinstance(rendered, str) and kind else rendered
            except (St2MistralError, jinja2.TemplateError, ValueError, SyntaxError, TypeError) as exc:
                raise InvalidParametersError('Failed to render parameter "%s" of action %s: %s'
                                             % (name, ref, exc)) from None
        return out
