"""Users, tokens and API keys: who may call the host (tokens and keys are stored only as hashes)."""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import string
from typing import Any, Dict, Mapping, Optional

import yaml

from mistral_v2 import statuses
from mistral_v2.exceptions import ConfigurationError, St2MistralError
from st2mistral_local import ids
from st2mistral_local.store import Store

DEFAULT_USER = "st2admin"
DEFAULT_TTL = 86400
MAX_TTL = 7 * 86400
# Who the host's in-memory service key (Authenticator.service_key) acts as.
SERVICE_USER = "stanley"
# Users with StackStorm's admin role whatever the users file says.
ADMIN_USERS = frozenset({DEFAULT_USER, SERVICE_USER})
# How long an execution's token stays valid after the execution completed: not at all, so the
# copy Mistral keeps in its database (env, st2.action inputs) is useless once the execution ended.
EXECUTION_TOKEN_GRACE = 0


class AuthenticationError(St2MistralError):
    """Missing, unknown or expired credentials (HTTP 401)."""


class AccessDeniedError(St2MistralError):
    """An authenticated user asked for something only an admin may do (HTTP 403)."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _password_hash(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), 100_000).hex()


PASSWORD_ALPHABET = string.ascii_letters + string.digits


def new_password(length: int = 24) -> str:
    """A random password of letters and digits: safe to pass as `st2 auth USER -p PASSWORD`
    (a URL-safe token may start with '-', which the CLI's argument parser takes for an option)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def ensure_users_file(path: str, user: str = DEFAULT_USER) -> Optional[str]:
    """Create the users file with one user and a generated password; returns that password
    (also written next to it, mode 0600, as <user>.password) or None when the file exists."""
    if os.path.exists(path):
        return None
    password = new_password()
    salt = secrets.token_hex(16)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump({"users": {user: {"salt": salt, "password_hash": _password_hash(password, salt)}}}, fh)
    pw_path = os.path.join(os.path.dirname(os.path.abspath(path)), "%s.password" % user)
    fd = os.open(pw_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return password


def _read_users(path: str) -> Dict[str, Dict[str, str]]:
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError("Cannot read the users file %s: %s" % (path, exc)) from exc
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise ConfigurationError('The users file %s needs a "users" mapping' % path)
    return users


class Authenticator:
    """Checks passwords, issues tokens and API keys, and resolves request credentials to a user."""

    def __init__(self, store: Store, users_path: str, default_ttl: int = DEFAULT_TTL, max_ttl: int = MAX_TTL) -> None:
        self.store = store
        self.users_path = users_path
        self.default_ttl = default_ttl
        self.max_ttl = max_ttl
        # The host's own credential towards a Mistral that authenticates with StackStorm
        # ([mistral] api_key of the runner, reconciler and callbacks): only in memory, new per start.
        self.service_key = secrets.token_urlsafe(36)

    def check_password(self, user: str, password: str) -> bool:
        """True when the user exists in the users file and the password matches."""
        entry = _read_users(self.users_path).get(user)
        if not isinstance(entry, dict) or "salt" not in entry:
            return False
        return hmac.compare_digest(_password_hash(password, entry["salt"]), entry.get("password_hash", ""))

    def is_admin(self, user: str) -> bool:
        """StackStorm's admin role: st2admin and the system user always; others with
        `roles: [admin]` in the users file."""
        if user in ADMIN_USERS:
            return True
        entry = _read_users(self.users_path).get(user) if os.path.exists(self.users_path) else None
        roles = entry.get("roles") if isinstance(entry, dict) else None
        return isinstance(roles, list) and "admin" in roles

    def act_as(self, requester: str, user: Optional[str], what: str = '"user"') -> str:
        """The user a request acts for: `user` when given, else the requester. Acting for someone
        else needs the admin role, as StackStorm's RBAC rules (no impersonation)."""
        if user in (None, "") or user == requester:
            return requester
        if not isinstance(user, str):
            raise AccessDeniedError("%s must be a user name, got %r" % (what, user))
        if not self.is_admin(requester):
            raise AccessDeniedError('%s can only be provided by admins: user "%s" cannot act for user "%s".'
                                    % (what, requester, user))
        return user

    def issue_token(self, user: str, ttl: Optional[int] = None) -> Dict[str, Any]:
        """A new user token (TokenAPI shape incl. the token itself, shown only here)."""
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1):
            raise AuthenticationError("ttl must be a positive integer of seconds, got %r" % (ttl,))
        ttl = min(ttl or self.default_ttl, self.max_ttl)
        token = secrets.token_hex(16)
        token_id = ids.new_id()
        expiry = ids.iso_after(ttl)
        self.store.add_token(_hash(token), token_id, user, expiry, None, ids.now_iso())
        return {"id": token_id, "user": user, "token": token, "ttl": ttl, "expiry": expiry, "metadata": {}}

    def issue_execution_token(self, user: str, execution_id: str) -> str:
        """A token valid for as long as the execution runs (until it completes)."""
        token = secrets.token_hex(16)
        self.store.add_token(_hash(token), ids.new_id(), user, None, execution_id, ids.now_iso())
        return token

    def create_apikey(self, user: str) -> Dict[str, Any]:
        """A new API key (ApiKeyAPI shape incl. the key itself, shown only here)."""
        key = secrets.token_urlsafe(36)
        key_id = ids.new_id()
        created = ids.now_iso()
        self.store.add_apikey(key_id, _hash(key), user, created)
        return {"id": key_id, "uid": "api_key:%s" % _hash(key), "user": user, "key": key,
                "key_hash": _hash(key), "created_at": created, "enabled": True, "metadata": {}}

    def _token_user(self, token: str) -> str:
        row = self.store.get_token(_hash(token))
        if not row:
            raise AuthenticationError("Unauthorized - Token %s not found." % _hint(token))
        if row["expiry"]:
            if ids.parse_iso(row["expiry"]) < ids.parse_iso(ids.now_iso()):
                raise AuthenticationError("Unauthorized - Token has expired.")
        elif row["execution_id"]:
            ex = self.store.get_execution(row["execution_id"])
            if ex is None:
                raise AuthenticationError("Unauthorized - Token has expired.")
            if statuses.is_completed(ex["status"]) and ex.get("end_timestamp"):
                ended = ids.parse_iso(ex["end_timestamp"])
                if (ids.parse_iso(ids.now_iso()) - ended).total_seconds() >= EXECUTION_TOKEN_GRACE:
                    raise AuthenticationError("Unauthorized - Token has expired.")
        return row["username"]

    def _apikey_user(self, key: str) -> str:
        if hmac.compare_digest(key, self.service_key):
            return SERVICE_USER
        row = self.store.get_apikey(_hash(key))
        if not row or not row["enabled"]:
            raise AuthenticationError("Unauthorized - API key provided is not valid.")
        return row["username"]

    def user_for_request(self, headers: Mapping[str, str], query: Mapping[str, str]) -> str:
        """The user behind a request's X-Auth-Token / St2-Api-Key (header or query string)."""
        token = headers.get("X-Auth-Token") or query.get("x-auth-token")
        key = headers.get("St2-Api-Key") or query.get("st2-api-key")
        if token:
            return self._token_user(token)
        if key:
            return self._apikey_user(key)
        raise AuthenticationError("Unauthorized - One of Token or API key required.")


def _hint(secret: str) -> str:
    """A non-revealing reference to a secret for messages (its hash prefix)."""
    return "sha256:" + _hash(secret)[:8]
