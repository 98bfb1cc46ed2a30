#!/usr/bin/env bash
# Check that the runner package installs into a Python 3.11 venv pinned by StackStorm 3.9's
# fixed-requirements.txt and loads through stevedore exactly as st2common's get_runner does.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSTRAINTS="$ROOT/tests/data/st2-3.9-fixed-requirements.txt"
PYTHON="${PYTHON:-python3.11}"

command -v "$PYTHON" >/dev/null || { echo "check_st2_constraints: $PYTHON not found" >&2; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || { echo "check_st2_constraints: $PYTHON is not Python 3.11 (StackStorm 3.9's)" >&2; exit 1; }
[ -f "$CONSTRAINTS" ] || { echo "check_st2_constraints: missing $CONSTRAINTS" >&2; exit 1; }

WORK="$(mktemp -d -t st2-constraints.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
LOG="$WORK/pip.log"

# Build from a clean copy so nothing is written into (or picked up stale from) the work tree.
mkdir "$WORK/src"
tar -C "$ROOT" --exclude=.git --exclude=.venv --exclude=.st2mistral --exclude=build \
    --exclude=dist --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache \
    -cf - $(cd "$ROOT" && ls -d setup.py requirements.txt runners contrib st2client_ext 2>/dev/null) \
  | tar -C "$WORK/src" -xf -

"$PYTHON" -m venv "$WORK/venv"
if ! "$WORK/venv/bin/python" -m pip install --disable-pip-version-check -c "$CONSTRAINTS" \
      "$WORK/src" stevedore >"$LOG" 2>&1; then
  grep -v "^WARNING: Location" "$LOG" | tail -n 30 >&2
  echo "check_st2_constraints: FAIL - pip cannot install the runner under StackStorm 3.9 pins" >&2
  exit 1
fi
"$WORK/venv/bin/python" -m pip check || { echo "check_st2_constraints: FAIL - pip check" >&2; exit 1; }

CONSTRAINTS="$CONSTRAINTS" "$WORK/venv/bin/python" - <<'PY'
import importlib.metadata as md

from stevedore.driver import DriverManager

import mistral_v2.mistral_v2 as direct

# What st2common.runners.base.get_runner("mistral-v2") does (via util.loader.get_plugin_instance).
module = DriverManager(namespace="st2common.runners.runner", name="mistral-v2",
                       invoke_on_load=False).driver
assert module is direct, f"entry point loads {module!r}, not mistral_v2.mistral_v2"
runner = module.get_runner()
meta = module.get_metadata()  # one dict per entry point, as st2's register_runners reads it
assert isinstance(meta, dict), f"get_metadata() returned {type(meta).__name__}, not the runner's dict"
names = [meta.get("name")]
assert names == ["mistral-v2"], f"runner metadata names {names}"
pins = {}
for line in open(__import__("os").environ["CONSTRAINTS"]):
    line = line.split("#")[0].split(";")[0].strip()
    if "==" in line:
        name, ver = line.split("==")
        pins[name.lower()] = ver
key = ["python-mistralclient", "oslo.config", "oslo.utils", "requests", "tenacity", "pyyaml",
       "stevedore", "urllib3", "keystoneauth1"]
versions = {}
for dist in key:
    try:
        versions[dist] = md.version(dist)
    except md.PackageNotFoundError:
        versions[dist] = "-"
for dist, ver in versions.items():
    if dist in pins and pins[dist] != ver:
        raise SystemExit(f"{dist} {ver} is installed but StackStorm 3.9 pins {pins[dist]}")
print("runner:", type(runner).__module__ + "." + type(runner).__name__, "| metadata:", names)
print("versions:", ", ".join(f"{k}={v}" for k, v in versions.items()))
PY
echo "check_st2_constraints: OK - runner installs under StackStorm 3.9 pins and loads as 'mistral-v2'"
