"""The one secret masker: by key (credential-looking names, secret parameters) and by value."""
from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from typing import Any, Iterable, List, Mapping, Optional, Sequence

MASK = "********"

# Keys whose values are credentials wherever they appear (auth_token, st2_api_key, password, ...).
SECRET_KEY = re.compile(r"(token|passw|secret|api[-_]?key|private[-_]?key|credential)", re.I)

# Values shorter than this are masked by key only: replacing "1" or "yes" inside every string
# would destroy results without protecting anything.
MIN_VALUE_LENGTH = 4

_NOT_SECRET_KEYS = frozenset({"secret_parameters"})  # a list of names, not of values


def is_secret_key(key: Any, secret_names: Iterable[str] = ()) -> bool:
    """True when `key` names a credential or one of `secret_names`."""
    return isinstance(key, str) and key not in _NOT_SECRET_KEYS and (
        key in set(secret_names) or bool(SECRET_KEY.search(key)))


def secret_names(parameters_meta: Any) -> List[str]:
    """Names of the parameters declared `secret: true` in action (or runner) metadata."""
    if not isinstance(parameters_meta, Mapping):
        return []
    return sorted(n for n, m in parameters_meta.items() if isinstance(m, Mapping) and m.get("secret"))


def _value_strings(values: Iterable[Any]) -> List[str]:
    """Distinct string forms of secret values long enough to be masked inside text, longest first."""
    found = set()
    for value in values:
        if isinstance(value, (dict, list, tuple)):
            items = value.values() if isinstance(value, dict) else value
            found.update(_value_strings(items))
        elif value is not None and not isinstance(value, bool):
            text = str(value)
            if len(text) >= MIN_VALUE_LENGTH:
                found.add(text)
    return sorted(found, key=len, reverse=True)


class Masker:
    """Masks one execution's secrets: keys (rule + `secret_names`) and `secret_values` in strings."""

    def __init__(self, secret_names: Iterable[str] = (), secret_values: Iterable[Any] = ()) -> None:
        self.names = frozenset(n for n in secret_names if isinstance(n, str))
        self.values = _value_strings(secret_values)
        self._pattern = (re.compile("|".join(re.escape(v) for v in self.values))
                         if self.values else None)

    def text(self, value: str) -> str:
        """`value` with every secret value in it replaced by the mask."""
        return self._pattern.sub(MASK, value) if self._pattern else value

    def __call__(self, value: Any) -> Any:
        """A masked copy of `value` (dicts, lists and strings, recursively)."""
        if isinstance(value, dict):
            return {k: self._entry(k, v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _entry(self, key: Any, value: Any) -> Any:
        if isinstance(key, str) and key in self.names:
            return value if value is None else MASK
        if is_secret_key(key) and isinstance(value, str) and value:
            return MASK
        return self(value)


def mask(value: Any, secret_names: Iterable[str] = (), secret_values: Iterable[Any] = ()) -> Any:
    """A copy of `value` with secrets masked by key and by value (see `Masker`)."""
    return Masker(secret_names, secret_values)(value)


def secret_values(parameters: Optional[Mapping[str, Any]], secret_names: Iterable[str],
                  *credentials: Optional[str]) -> List[Any]:
    """The values of the secret parameters among `parameters`, plus the given credentials."""
    params = parameters if isinstance(parameters, Mapping) else {}
    out: List[Any] = [params[n] for n in secret_names if params.get(n) is not None]
    out.extend(c for c in credentials if c)
    return out


def env_credentials(env: Optional[Mapping[str, Any]]) -> List[str]:
    """The auth token / API key a Mistral env built by `context.build_env` carries."""
    actions = (env or {}).get("__actions") if isinstance(env, Mapping) else None
    st2 = (actions or {}).get("st2.action") if isinstance(actions, Mapping) else None
    ctx = (st2 or {}).get("st2_context") if isinstance(st2, Mapping) else None
    return context_credentials(ctx)


def context_credentials(st2_context: Any) -> List[str]:
    """The auth token / API key of an `st2_context` (the env part `st2.action` receives)."""
    if not isinstance(st2_context, Mapping):
        return []
    return [str(st2_context[k]) for k in ("auth_token", "api_key") if st2_context.get(k)]


# -- logs ------------------------------------------------------------------------------------------

_KNOWN_MAX = 2000  # one regex over all of them runs on every log line
_known: "OrderedDict[str, None]" = OrderedDict()
_known_lock = threading.Lock()
_known_masker = Masker()


def remember(values: Sequence[Any]) -> None:
    """Register secret values (tokens, secret parameters) that log records must never show."""
    global _known_masker
    new = _value_strings(values)
    if not new:
        return
    with _known_lock:
        for v in new:
            _known[v] = None
            _known.move_to_end(v)
        while len(_known) > _KNOWN_MAX:
            _known.popitem(last=False)
        _known_masker = Masker((), list(_known))


def known_values() -> List[str]:
    """The secret values registered with `remember` (newest last)."""
    with _known_lock:
        return list(_known)


_KEY_VALUE = re.compile(r"((?:token|passw\w*|secret|api[-_]?key|private[-_]?key|credential)['\"]?\s*[:=]\s*['\"]?)"
                        r"([^'\"\s,&}]+)", re.I)


def mask_text(text: str) -> str:
    """A log line with remembered secret values and `token=...`-like pairs masked."""
    return _KEY_VALUE.sub(lambda m: m.group(1) + MASK, _known_masker.text(text))


class LogFilter(logging.Filter):
    """A logging filter that masks secrets in every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the formatter's problem, not ours
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def install_log_filter(logger: Optional[logging.Logger] = None) -> LogFilter:
    """Add a `LogFilter` to every handler of `logger` (root by default); returns the filter."""
    target = logger or logging.getLogger()
    flt = LogFilter()
    for handler in target.handlers:
        if not any(isinstance(f, LogFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt
