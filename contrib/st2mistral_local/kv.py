"""The key-value store (st2 `keys` API): system and user scopes, TTLs, encrypted secret values."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from cryptography.fernet import Fernet, InvalidToken

from mistral_v2.exceptions import ConfigurationError, InvalidParametersError
from st2mistral_local import ids
from st2mistral_local.store import Store

SYSTEM = "st2kv.system"
USER = "st2kv.user"
_SCOPES = {"system": SYSTEM, SYSTEM: SYSTEM, "user": USER, USER: USER}


def normalize_scope(scope: Optional[str], allow_all: bool = False) -> Optional[str]:
    """st2kv.system / st2kv.user (or None for "all" when allowed); short names accepted."""
    if not scope:
        return SYSTEM
    if allow_all and scope == "all":
        return None
    if scope not in _SCOPES:
        raise InvalidParametersError('Invalid scope "%s"; allowed scopes are system, user%s.' % (
            scope, ", all" if allow_all else ""))
    return _SCOPES[scope]


def load_cipher(path: str) -> Fernet:
    """The symmetric key for secret values, created (mode 0600) on first use."""
    try:
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        with open(path, "rb") as fh:
            return Fernet(fh.read().strip())
    except (OSError, ValueError) as exc:
        raise ConfigurationError("Cannot use the key-value crypto key %s: %s" % (path, exc)) from exc


class KeyValueStore:
    """Key-value pairs on top of the host store; secrets are kept encrypted."""

    def __init__(self, store: Store, cipher: Fernet) -> None:
        self.store = store
        self.cipher = cipher

    def encrypt(self, value: str) -> str:
        """Ciphertext of a value, as returned for secrets when not decrypting."""
        return self.cipher.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, value: str) -> str:
        """Plain text of a ciphertext made by encrypt()."""
        try:
            return self.cipher.decrypt(value.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError) as exc:
            raise InvalidParametersError(
                "The encrypted value cannot be decrypted; make sure it was encrypted with this host's key."
            ) from exc

    def _doc(self, row: Dict[str, Any], decrypt: bool) -> Dict[str, Any]:
        value = row["value"]
        encrypted = False
        if row["secret"]:
            if decrypt:
                value = self.decrypt(value)
            else:
                encrypted = True
        doc = {"id": row["id"], "uid": "key_value_pair:%s:%s" % (row["scope"], row["name"]),
               "name": row["name"], "value": value, "secret": row["secret"], "encrypted": encrypted,
               "scope": row["scope"]}
        if row["scope"] == USER:
            doc["user"] = row["username"]
        if row.get("expire_timestamp"):
            doc["expire_timestamp"] = row["expire_timestamp"]
        return doc

    @staticmethod
    def _scope(scope: Optional[str]) -> str:
        return normalize_scope(scope) or SYSTEM

    def _live(self, row: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        if row and row.get("expire_timestamp"):
            if ids.parse_iso(row["expire_timestamp"]) <= ids.parse_iso(ids.now_iso()):
                self.store.delete_key(row["scope"], row["username"], row["name"])
                return None
        return row

    def set(self, name: str, body: Dict[str, Any], requester: str) -> Dict[str, Any]:
        """Create or replace a key from a KeyValuePairAPI body; returns the stored doc (masked)."""
        if not name:
            raise InvalidParametersError("A key needs a name.")
        if "value" not in body or not isinstance(body.get("value"), str):
            raise InvalidParametersError('Key "%s" needs a string "value".' % name)
        scope = self._scope(body.get("scope"))
        secret = bool(body.get("secret"))
        encrypted = bool(body.get("encrypted"))
        if encrypted and not secret:
            secret = True
        value = body["value"]
        if encrypted:
            self.decrypt(value)  # reject values this host cannot decrypt
        elif secret:
            value = self.encrypt(value)
        ttl = body.get("ttl")
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1):
            raise InvalidParametersError("ttl must be a positive integer of seconds, got %r" % (ttl,))
        username = (body.get("user") or requester) if scope == USER else ""
        row = {"scope": scope, "username": username, "name": name, "value": value, "secret": secret,
               "expire_timestamp": ids.iso_after(ttl) if ttl else None, "id": ids.new_id()}
        self.store.put_key(row)
        return self._doc(self.store.get_key(scope, username, name) or row, decrypt=False)

    def get(self, name: str, scope: Optional[str], user: Optional[str], decrypt: bool,
            requester: str) -> Optional[Dict[str, Any]]:
        """One key doc or None."""
        norm = self._scope(scope)
        username = (user or requester) if norm == USER else ""
        return self._maybe(self._live(self.store.get_key(norm, username, name)), decrypt)

    def _maybe(self, row: Optional[Dict[str, Any]], decrypt: bool) -> Optional[Dict[str, Any]]:
        return self._doc(row, decrypt) if row else None

    def list(self, scope: Optional[str], user: Optional[str], prefix: Optional[str], decrypt: bool,
             requester: str) -> List[Dict[str, Any]]:
        """Key docs of a scope ("all" = system plus the requester's user keys)."""
        norm = normalize_scope(scope, allow_all=True)
        rows: List[Dict[str, Any]] = []
        if norm in (None, SYSTEM):
            rows += self.store.list_keys(SYSTEM, "", prefix)
        if norm in (None, USER):
            rows += self.store.list_keys(USER, user or requester, prefix)
        return [self._doc(r, decrypt) for r in rows if self._live(r)]

    def delete(self, name: str, scope: Optional[str], user: Optional[str], requester: str) -> bool:
        """Delete a key; False when there was none."""
        norm = self._scope(scope)
        username = (user or requester) if norm == USER else ""
        return self.store.delete_key(norm, username, name)
