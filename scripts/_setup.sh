# Sourced by scripts/demo and scripts/test: the dev virtualenv (.venv) with st2-mistral and the
# Mistral virtualenv. Sets ROOT, VENV and LOGDIR; calls fail() (defined by the caller) on error.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
LOGDIR="$ROOT/.st2mistral"
mkdir -p "$LOGDIR"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
  || fail "$PYTHON is $("$PYTHON" -V 2>&1); Python >= 3.9 (3.11 recommended) is required"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c pass 2>/dev/null; then
  echo "setup: creating $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || fail "could not create $VENV"
fi

# The editable install only needs redoing when packaging inputs change (sources are live).
stamp="$( (cat setup.py pyproject.toml requirements.txt; ls -d runners/mistral_v2 contrib/st2mistral_local \
           contrib/st2mistral_server contrib/st2mistral_compat st2client_ext 2>/dev/null) | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.st2mistral-dev-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "setup: installing st2-mistral[local,cli,test] into .venv (log: $LOGDIR/dev-pip.log)"
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -e ".[local,cli,test]" \
       >"$LOGDIR/dev-pip.log" 2>&1; then
    tail -n 25 "$LOGDIR/dev-pip.log" >&2
    fail "pip install -e .[local,cli,test] failed (full log: $LOGDIR/dev-pip.log)"
  fi
  echo "$stamp" >"$VENV/.st2mistral-dev-stamp"
fi

"$VENV/bin/st2mistral-server" venv >/dev/null || fail "could not prepare the Mistral virtualenv"

