"""Pack registration: read pack.yaml and actions/*.yaml, check them, and the built-in core pack."""
from __future__ import annotations

import glob
import logging
import os
from typing import Any, Dict, List, Optional

import yaml

from mistral_v2.exceptions import ConfigurationError, St2MistralError
from st2mistral_local import ids, params
from st2mistral_local.runners import runner_types
from st2mistral_local.store import Store

LOG = logging.getLogger(__name__)

CORE_PACK = "core"

# st2's core pack, reduced to the actions the host runs itself.
CORE_ACTIONS: List[Dict[str, Any]] = [
    {
        "name": "local",
        "runner_type": "local-shell-cmd",
        "description": "Action that executes an arbitrary Linux command on the localhost.",
        "parameters": {"cmd": {"type": "string", "required": True,
                               "description": "Arbitrary Linux command to be executed on the local host."}},
    },
    {
        "name": "echo",
        "runner_type": "local-shell-cmd",
        "description": "Action that executes the Linux echo command on the localhost.",
        "parameters": {
            "message": {"type": "string", "required": True, "description": "The message that the command will echo."},
            "cmd": {"type": "string", "immutable": True, "default": "echo {{message}}"},
        },
    },
    {
        "name": "noop",
        "runner_type": "noop",
        "description": "Action that does nothing",
        "parameters": {},
    },
]


def repo_pack_dir() -> Optional[str]:
    """This repository's own pack (its actions/ dir, with pack.yaml) in a source checkout."""
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "actions"))
    return root if os.path.isfile(os.path.join(root, "pack.yaml")) else None


def _action_doc(pack: str, meta: Dict[str, Any], pack_dir: Optional[str], metadata_file: str) -> Dict[str, Any]:
    name = meta["name"]
    return {
        "id": ids.new_id(),
        "uid": "action:%s:%s" % (pack, name),
        "ref": "%s.%s" % (pack, name),
        "pack": pack,
        "name": name,
        "description": meta.get("description", ""),
        "enabled": bool(meta.get("enabled", True)),
        "entry_point": meta.get("entry_point", "") or "",
        "runner_type": meta["runner_type"],
        "parameters": meta.get("parameters") or {},
        "output_schema": meta.get("output_schema") or {},
        "tags": meta.get("tags") or [],
        "notify": meta.get("notify") or {},
        "metadata_file": metadata_file,
        "_pack_dir": pack_dir,
    }


def check_action(pack: str, meta: Any, pack_dir: Optional[str], source: str) -> Dict[str, Any]:
    """Validate one action's metadata; returns the action document or raises naming the problem."""
    if not isinstance(meta, dict):
        raise ConfigurationError("%s: action metadata must be a mapping" % source)
    problems = []
    name = meta.get("name")
    if not isinstance(name, str) or not name or "." in name:
        problems.append('"name" must be a non-empty string without dots')
    if meta.get("pack") not in (None, pack):
        problems.append('"pack" is "%s" but the pack is "%s"' % (meta.get("pack"), pack))
    types = runner_types()
    runner = meta.get("runner_type")
    if runner not in types:
        problems.append('unknown runner_type "%s" (known: %s)' % (runner, ", ".join(sorted(types))))
    entry = meta.get("entry_point")  # optional, as in StackStorm (mistral-v2: a workflow registered in Mistral)
    if entry:
        if os.path.isabs(entry) or ".." in entry.split("/"):
            problems.append('"entry_point" must be relative to the pack\'s actions/ directory')
        elif pack_dir and not os.path.isfile(os.path.join(pack_dir, "actions", entry)):
            problems.append('entry_point file actions/%s does not exist' % entry)
    if not isinstance(meta.get("parameters") or {}, dict):
        problems.append('"parameters" must be a mapping')
    else:
        try:
            params.check_schema("%s.%s" % (pack, name), meta.get("parameters") or {})
        except St2MistralError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigurationError("%s: %s" % (source, "; ".join(problems)))
    return _action_doc(pack, meta, pack_dir, source)


def read_pack(pack_dir: str) -> List[Dict[str, Any]]:
    """Action documents of a pack dir; every problem in every file is reported at once."""
    pack_dir = os.path.abspath(pack_dir)
    pack_file = os.path.join(pack_dir, "pack.yaml")
    try:
        with open(pack_file) as fh:
            pack_meta = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ConfigurationError("Pack %s has no readable pack.yaml: %s" % (pack_dir, exc)) from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError("%s is not valid YAML: %s" % (pack_file, exc)) from exc
    pack = pack_meta.get("ref") or pack_meta.get("name") if isinstance(pack_meta, dict) else None
    if not isinstance(pack, str) or not pack:
        raise ConfigurationError('%s needs a "ref" or "name"' % pack_file)
    docs, problems = [], []
    actions_dir = os.path.join(pack_dir, "actions")
    files = sorted(glob.glob(os.path.join(actions_dir, "*.yaml")) + glob.glob(os.path.join(actions_dir, "*.yml")))
    for path in files:
        try:
            with open(path) as fh:
                meta = yaml.safe_load(fh)
            docs.append(check_action(pack, meta, pack_dir, os.path.relpath(path, pack_dir)))
        except yaml.YAMLError as exc:
            problems.append("%s is not valid YAML: %s" % (path, exc))
        except St2MistralError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigurationError("Pack %s has invalid actions: %s" % (pack, " | ".join(problems)))
    return docs


def register_core(store: Store) -> List[str]:
    """Register the built-in core pack; returns the refs."""
    return [store.put_action(check_action(CORE_PACK, dict(m), None, "<builtin core>"))["ref"] for m in CORE_ACTIONS]


def register_pack(store: Store, pack_dir: str) -> List[str]:
    """Register all actions of a pack directory; returns their refs."""
    return [store.put_action(doc)["ref"] for doc in read_pack(pack_dir)]


def register_all(store: Store, pack_dirs: List[str]) -> List[str]:
    """Core pack, this repository's pack (when it has pack.yaml) and the given pack dirs."""
    refs = register_core(store)
    repo = repo_pack_dir()
    if repo and repo not in [os.path.abspath(p) for p in pack_dirs]:
        refs += register_pack(store, repo)
    for pack_dir in pack_dirs:
        refs += register_pack(store, pack_dir)
    return refs
