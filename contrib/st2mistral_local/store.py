"""Durable state of the host in one SQLite file: actions, executions, keys, tokens and API keys."""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from mistral_v2.exceptions import St2MistralError
from st2mistral_server import paths

SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY, ref TEXT UNIQUE NOT NULL, pack TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    action_ref TEXT NOT NULL,
    runner_type TEXT NOT NULL,
    status TEXT NOT NULL,
    parent TEXT,
    username TEXT,
    start_timestamp TEXT NOT NULL,
    end_timestamp TEXT,
    mistral_action_execution_id TEXT UNIQUE,
    callback_state TEXT,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS executions_parent ON executions(parent);
CREATE INDEX IF NOT EXISTS executions_status ON executions(status);
CREATE TABLE IF NOT EXISTS keys (
    scope TEXT NOT NULL, username TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    secret INTEGER NOT NULL, expire_timestamp TEXT, id TEXT NOT NULL,
    PRIMARY KEY (scope, username, name));
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY, id TEXT NOT NULL, username TEXT NOT NULL, expiry TEXT,
    execution_id TEXT, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apikeys (
    id TEXT PRIMARY KEY, key_hash TEXT UNIQUE NOT NULL, username TEXT NOT NULL,
    created_at TEXT NOT NULL, enabled INTEGER NOT NULL);
"""

# Columns of `executions` kept in step with the JSON document.
_EXEC_COLUMNS = ("action_ref", "runner_type", "status", "parent", "username", "start_timestamp",
                 "end_timestamp", "mistral_action_execution_id", "callback_state")


class StoreError(St2MistralError):
    """The host's state file cannot be opened or written."""


class DuplicateError(StoreError):
    """A row with the same unique key exists already."""


def _row_columns(doc: Dict[str, Any]) -> Dict[str, Any]:
    ctx = doc.get("context") or {}
    raw = ctx.get("mistral")
    mistral_ctx: Dict[str, Any] = raw if isinstance(raw, dict) else {}
    return {
        "action_ref": doc["action"]["ref"],
        "runner_type": doc["runner"]["name"],
        "status": doc["status"],
        "parent": doc.get("parent"),
        "username": ctx.get("user"),
        "start_timestamp": doc["start_timestamp"],
        "end_timestamp": doc.get("end_timestamp"),
        "mistral_action_execution_id": mistral_ctx.get("action_execution_id"),
        "callback_state": doc.get("callback_state"),
    }


class Store:
    """Thread-safe access to the host's SQLite file (one connection guarded by a lock)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
            if path != ":memory:":
                paths.private_file(path)  # 0600 from creation; SQLite's -wal/-shm files copy the mode
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError("Cannot open the host state file %s: %s" % (path, exc)) from exc
        self._lock = threading.RLock()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements atomically (BEGIN IMMEDIATE ... COMMIT/ROLLBACK) under the store lock."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Tuple[Any, ...] = ()) -> List[sqlite3.Row]:
        with self._lock:
            cur = self._db.execute(sql, args)
            return cur.fetchall()

    # ---- actions -------------------------------------------------------------------------
    def put_action(self, action: Dict[str, Any]) -> Dict[str, Any]:
        """Insert or replace an action by ref, keeping its id when it was registered before."""
        with self.transaction() as db:
            row = db.execute("SELECT id FROM actions WHERE ref = ?", (action["ref"],)).fetchone()
            if row:
                action = dict(action, id=row[0])
            db.execute(
                "INSERT OR REPLACE INTO actions (id, ref, pack, data) VALUES (?, ?, ?, ?)",
                (action["id"], action["ref"], action["pack"], json.dumps(action)),
            )
        return action

    def get_action(self, ref_or_id: str) -> Optional[Dict[str, Any]]:
        """The action with this ref or id, or None."""
        rows = self._query("SELECT data FROM actions WHERE ref = ? OR id = ?", (ref_or_id, ref_or_id))
        return json.loads(rows[0][0]) if rows else None

    def list_actions(self, pack: Optional[str] = None) -> List[Dict[str, Any]]:
        """All actions (optionally of one pack) ordered by ref."""
        if pack:
            rows = self._query("SELECT data FROM actions WHERE pack = ? ORDER BY ref", (pack,))
        else:
            rows = self._query("SELECT data FROM actions ORDER BY ref")
        return [json.loads(r[0]) for r in rows]

    # ---- executions ----------------------------------------------------------------------
    def insert_execution(self, doc: Dict[str, Any]) -> Dict[str, Any]:
        """Store a new execution; a child whose Mistral action execution is known already is
        not inserted again: the existing execution is returned instead (idempotent POST)."""
        cols = _row_columns(doc)
        with self.transaction() as db:
            if cols["mistral_action_execution_id"]:
                row = db.execute(
                    "SELECT data FROM executions WHERE mistral_action_execution_id = ?",
                    (cols["mistral_action_execution_id"],),
                ).fetchone()
                if row:
                    return json.loads(row[0])
            names = ("id",) + _EXEC_COLUMNS + ("data",)
            values = (doc["id"],) + tuple(cols[c] for c in _EXEC_COLUMNS) + (json.dumps(doc),)
            try:
                db.execute(
                    "INSERT INTO executions (%s) VALUES (%s)" % (", ".join(names), ", ".join("?" * len(names))),
                    values,
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateError("Execution %s exists already: %s" % (doc["id"], exc)) from exc
        return doc

    def get_execution(self, execution_id: str) -> Optional[Dict[str, Any]]:
        """The execution document, or None."""
        rows = self._query("SELECT data FROM executions WHERE id = ?", (execution_id,))
        return json.loads(rows[0][0]) if rows else None

    def update_execution(
        self, execution_id: str, mutate: Callable[[Dict[str, Any]], Optional[Dict[str, Any]]]
    ) -> Optional[Dict[str, Any]]:
        """Atomically load, change and save an execution.

        `mutate` gets the document and returns the new one, or None to leave it unchanged.
        Returns the stored document afterwards (None when the execution does not exist).
        """
        with self.transaction() as db:
            row = db.execute("SELECT data FROM executions WHERE id = ?", (execution_id,)).fetchone()
            if not row:
                return None
            doc = json.loads(row[0])
            new = mutate(doc)
            if new is None:
                return doc
            cols = _row_columns(new)
            # The idempotency key is fixed at insert time (a runner may later replace context.mistral).
            names = [c for c in _EXEC_COLUMNS if c != "mistral_action_execution_id"]
            sets = ", ".join("%s = ?" % c for c in names)
            db.execute(
                "UPDATE executions SET %s, data = ? WHERE id = ?" % sets,
                tuple(cols[c] for c in names) + (json.dumps(new), execution_id),
            )
            return new

    def list_executions(
        self,
        action: Optional[str] = None,
        status: Optional[str] = None,
        parent: Optional[str] = None,
        user: Optional[str] = None,
        statuses_not_in: Optional[List[str]] = None,
        runner_type: Optional[str] = None,
        callback_states: Optional[List[str]] = None,
        ascending: bool = False,
        limit: Optional[int] = None,
        offset: int = 0,
    ) -> Tuple[List[Dict[str, Any]], int]:
        """Executions matching the filters (parent "null" = top level) and the total count."""
        where, args = [], []  # type: List[str], List[Any]
        if parent == "null":
            where.append("parent IS NULL")
            parent = None
        # (column, operator, value or values); a filter left None or empty is not applied.
        filters = (("action_ref", "=", action), ("status", "=", status), ("parent", "=", parent),
                   ("username", "=", user), ("runner_type", "=", runner_type),
                   ("status", "NOT IN", statuses_not_in), ("callback_state", "IN", callback_states))
        for column, operator, value in filters:
            if not value:
                continue
            values = list(value) if isinstance(value, list) else [value]
            placeholder = "(%s)" % ", ".join("?" * len(values)) if operator.endswith("IN") else "?"
            where.append("%s %s %s" % (column, operator, placeholder))
            args.extend(values)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        total = self._query("SELECT COUNT(*) FROM executions" + clause, tuple(args))[0][0]
        order = "ASC" if ascending else "DESC"
        sql = "SELECT data FROM executions%s ORDER BY start_timestamp %s, id %s" % (clause, order, order)
        if limit is not None and limit >= 0:
            sql += " LIMIT %d OFFSET %d" % (limit, max(offset, 0))
        elif offset:
            sql += " LIMIT -1 OFFSET %d" % offset
        return [json.loads(r[0]) for r in self._query(sql, tuple(args))], total

    def child_ids(self, execution_id: str) -> List[str]:
        """Ids of the direct children of an execution, oldest first."""
        rows = self._query(
            "SELECT id FROM executions WHERE parent = ? ORDER BY start_timestamp, id", (execution_id,)
        )
        return [r[0] for r in rows]

    def claim_callback(self, execution_id: str) -> bool:
        """Mark a child's callback as in progress; False when it is applied or being applied."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE executions SET callback_state = 'in_progress' "
                "WHERE id = ? AND callback_state IN ('pending', 'failed')",
                (execution_id,),
            )
            return cur.rowcount == 1

    def set_callback_state(self, execution_id: str, state: str) -> None:
        """Record the callback outcome ('applied' or 'failed') in the row and the document."""
        def mutate(doc: Dict[str, Any]) -> Dict[str, Any]:
            doc["callback_state"] = state
            return doc

        self.update_execution(execution_id, mutate)

    def reset_interrupted_callbacks(self) -> int:
        """After a restart: callbacks left 'in_progress' are retried ('failed'); returns how many."""
        ids = [r[0] for r in self._query("SELECT id FROM executions WHERE callback_state = 'in_progress'")]
        for ex_id in ids:
            self.set_callback_state(ex_id, "failed")
        return len(ids)

    # ---- key-value pairs -----------------------------------------------------------------
    def put_key(self, row: Dict[str, Any]) -> None:
        """Insert or replace a key (row keys: scope, username, name, value, secret, expire_timestamp, id)."""
        with self.transaction() as db:
            old = db.execute(
                "SELECT id FROM keys WHERE scope = ? AND username = ? AND name = ?",
                (row["scope"], row["username"], row["name"]),
            ).fetchone()
            db.execute(
                "INSERT OR REPLACE INTO keys (scope, username, name, value, secret, expire_timestamp, id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row["scope"], row["username"], row["name"], row["value"], int(bool(row["secret"])),
                 row.get("expire_timestamp"), old[0] if old else row["id"]),
            )

    def get_key(self, scope: str, username: str, name: str) -> Optional[Dict[str, Any]]:
        """One key row as a dict, or None."""
        rows = self._query(
            "SELECT scope, username, name, value, secret, expire_timestamp, id FROM keys "
            "WHERE scope = ? AND username = ? AND name = ?",
            (scope, username, name),
        )
        return self._key_dict(rows[0]) if rows else None

    def list_keys(self, scope: Optional[str], username: Optional[str], prefix: Optional[str]) -> List[Dict[str, Any]]:
        """Key rows filtered by scope, user and name prefix, ordered by name."""
        where, args = [], []  # type: List[str], List[Any]
        if scope:
            where.append("scope = ?")
            args.append(scope)
        if username is not None:
            where.append("username = ?")
            args.append(username)
        if prefix:
            where.append("substr(name, 1, ?) = ?")
            args.extend([len(prefix), prefix])
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        rows = self._query(
            "SELECT scope, username, name, value, secret, expire_timestamp, id FROM keys%s ORDER BY name" % clause,
            tuple(args),
        )
        return [self._key_dict(r) for r in rows]

    def delete_key(self, scope: str, username: str, name: str) -> bool:
        """Delete a key; False when it did not exist."""
        with self.transaction() as db:
            cur = db.execute(
                "DELETE FROM keys WHERE scope = ? AND username = ? AND name = ?", (scope, username, name)
            )
            return cur.rowcount == 1

    @staticmethod
    def _key_dict(row: sqlite3.Row) -> Dict[str, Any]:
        return {"scope": row[0], "username": row[1], "name": row[2], "value": row[3],
                "secret": bool(row[4]), "expire_timestamp": row[5], "id": row[6]}

    # ---- tokens and API keys -------------------------------------------------------------
    def add_token(self, token_hash: str, token_id: str, username: str, expiry: Optional[str],
                  execution_id: Optional[str], created: str) -> None:
        """Store a token by its hash (the token itself is never stored)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO tokens (token_hash, id, username, expiry, execution_id, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash, token_id, username, expiry, execution_id, created),
            )

    def get_token(self, token_hash: str) -> Optional[Dict[str, Any]]:
        """Token row by hash: id, username, expiry, execution_id."""
        rows = self._query(
            "SELECT id, username, expiry, execution_id FROM tokens WHERE token_hash = ?", (token_hash,)
        )
        if not rows:
            return None
        r = rows[0]
        return {"id": r[0], "username": r[1], "expiry": r[2], "execution_id": r[3]}

    def add_apikey(self, key_id: str, key_hash: str, username: str, created_at: str) -> None:
        """Store an API key by its hash."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO apikeys (id, key_hash, username, created_at, enabled) VALUES (?, ?, ?, ?, 1)",
                (key_id, key_hash, username, created_at),
            )

    def get_apikey(self, key_hash: str) -> Optional[Dict[str, Any]]:
        """API key row by hash."""
        rows = self._query(
            "SELECT id, username, created_at, enabled, key_hash FROM apikeys WHERE key_hash = ?", (key_hash,)
        )
        return self._apikey_dict(rows[0]) if rows else None

    def list_apikeys(self) -> List[Dict[str, Any]]:
        """All API key rows (hashes only)."""
        rows = self._query("SELECT id, username, created_at, enabled, key_hash FROM apikeys ORDER BY created_at")
        return [self._apikey_dict(r) for r in rows]

    def delete_apikey(self, key_id: str) -> bool:
        """Delete an API key by id; False when there was none."""
        with self.transaction() as db:
            return db.execute("DELETE FROM apikeys WHERE id = ?", (key_id,)).rowcount == 1

    @staticmethod
    def _apikey_dict(r: sqlite3.Row) -> Dict[str, Any]:
        return {"id": r[0], "username": r[1], "created_at": r[2], "enabled": bool(r[3]), "key_hash": r[4]}
