"""Plant a secret (a secret parameter and the execution's token) and grep every log file, every
database and every API answer of a whole `st2mistral-local up` stack (auth on) for it (issue 17).

Where a secret must remain, and why (docs/reliability.md, "Security"):
- Mistral's database: the workflow input and the task/action inputs and results computed from it
  (Mistral needs them to run and to re-run tasks); the execution's token in the env and in each
  `st2.action` input while it runs (children are started with it) -- deleted by the plugin once
  StackStorm has the final status, and revoked by the host at completion.
- The host's database: the execution's parameters (a re-run uses them, as StackStorm's MongoDB
  does) and what it handed to children (their parameters and results: the callback returns the
  child's result to Mistral unchanged). Never a token or API key (stored as hashes), never the
  workflow's stored result.
"""
from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Dict, List

import pytest
import requests
from test_mistral_auth import mistral_id, run, st2, stack, wait  # noqa: F401

pytestmark = pytest.mark.integration

SECRET = "Planted-" + uuid.uuid4().hex[:12]


def _tables_with(db: Path, needle: str) -> Dict[str, List[str]]:
    """table -> columns whose text contains `needle` in some row."""
    found: Dict[str, List[str]] = {}
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            cols = [r[1] for r in con.execute("PRAGMA table_info(%s)" % table).fetchall()]
            for col in cols:
                hit = con.execute("SELECT 1 FROM %s WHERE CAST(%s AS TEXT) LIKE ? LIMIT 1" % (table, col),
                                  ("%" + needle + "%",)).fetchone()
                if hit:
                    found.setdefault(table, []).append(col)
    finally:
        con.close()
    return found


def test_planted_secret_and_token_reach_no_log_no_api_answer_and_only_the_documented_db_places(stack):  # noqa: F811
    ex_id = run(stack, "faulttest.leaky", api_password=SECRET)
    m_id = mistral_id(stack, ex_id)
    key = {"St2-Api-Key": stack.key}
    answer = requests.get(stack.mistral + "/executions/" + m_id, headers=key, timeout=30).json()
    env = json.loads(answer["params"])["env"]
    token = env["__actions"]["st2.action"]["st2_context"]["auth_token"]
    doc = wait(stack, ex_id, ["succeeded", "failed"])
    assert doc["status"] == "succeeded", doc["result"]
    children = doc.get("children") or []
    time.sleep(1.0)  # let the last pushes/log lines land (no pass/fail timing here)

    # Every API answer of the host.
    answers = {
        "execution": st2(stack, "GET", "/executions/%s" % ex_id).text,
        "list": st2(stack, "GET", "/executions?limit=50").text,
        "result": st2(stack, "GET", "/executions/%s/result" % ex_id).text,
        "tree": st2(stack, "GET", "/mistral/executions/%s/tree" % ex_id).text,
        "context": st2(stack, "GET", "/mistral/executions/%s/tasks/echo/context" % ex_id).text,
        "children": "".join(st2(stack, "GET", "/executions/%s" % c).text for c in children),
    }
    assert children and "********" in answers["execution"]
    assert doc["result"]["note"] == "connecting with ******** now" and "got ********" in doc["result"]["said"]
    for where, text in answers.items():
        assert SECRET not in text and token not in text, where

    # Every log file: the host's and Mistral's (its run directory).
    run_dir = Path(stack.mistral_info["run_dir"])
    logs = list(run_dir.glob("*.log")) + list(run_dir.glob("*.out")) + list(Path(stack.state_dir).glob("*.log"))
    assert any(p.name == "mistral.log" for p in logs) and any(p.parent == Path(stack.state_dir) for p in logs)
    for path in logs:
        text = path.read_text(errors="replace")
        assert SECRET not in text and token not in text and stack.key not in text, path

    # The host's database: never a token or key; the secret only in execution documents.
    host_db = Path(stack.state_dir) / "host.sqlite"
    assert _tables_with(host_db, token) == {} and _tables_with(host_db, stack.key) == {}
    assert set(_tables_with(host_db, SECRET)) <= {"executions"}
    con = sqlite3.connect("file:%s?mode=ro" % host_db, uri=True)
    try:
        stored = json.loads(con.execute("SELECT data FROM executions WHERE id = ?", (ex_id,)).fetchone()[0])
    finally:
        con.close()
    assert SECRET not in json.dumps(stored["result"]), "the workflow's result is stored masked"

    # Mistral's database: the secret only where Mistral needs it to run (see the module docstring);
    # the token nowhere once StackStorm has the final status (the plugin deletes it).
    mistral_db = Path(stack.state_dir) / "mistral.db"
    places = set(_tables_with(mistral_db, SECRET))
    assert places <= {"workflow_executions_v2", "task_executions_v2", "action_executions_v2"}, places
    deadline = time.monotonic() + 30
    while _tables_with(mistral_db, token):
        assert time.monotonic() < deadline, _tables_with(mistral_db, token)
        time.sleep(0.5)
    # ... and the token there no longer authenticates anywhere.
    assert requests.get(stack.api + "/executions?limit=1", headers={"X-Auth-Token": token},
                        timeout=30).status_code == 401

    # Private files.
    for path in [host_db, mistral_db, Path(stack.mistral_info["config_file"])] + logs:
        assert path.stat().st_mode & 0o077 == 0, (path, oct(path.stat().st_mode))
