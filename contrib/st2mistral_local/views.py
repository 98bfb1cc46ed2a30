"""How stored executions look in API responses: secrets masked, children listed, attributes filtered."""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

from mistral_v2 import extensions as ext
from mistral_v2 import masking
from st2mistral_local import ids, params
from st2mistral_local.runners import runner_types
from st2mistral_local.store import Store

_INTERNAL = ("callback_state",)


def masker(store: Store, doc: Dict[str, Any]) -> masking.Masker:
    """The masker of an execution: its secret parameters (names and values), those of its
    ancestors (a workflow hands its secrets to children) and every token the host handed out."""
    return ext.execution_masker(store, doc, masking.known_values(),
                                names_of=lambda d: params.secret_names(_schema(d)))


def _schema(doc: Dict[str, Any]) -> Dict[str, Any]:
    runner = runner_types().get(doc["runner"]["name"], doc["runner"])
    return params.merge_schema(runner.get("runner_parameters") or {}, doc["action"].get("parameters") or {})


def execution(store: Store, doc: Dict[str, Any], include: Optional[List[str]] = None,
              exclude: Optional[List[str]] = None) -> Dict[str, Any]:
    """The ActionExecutionAPI shape of a stored execution."""
    out = {k: copy.deepcopy(v) for k, v in doc.items() if k not in _INTERNAL}
    mask = masker(store, doc)
    out["parameters"] = mask(out.get("parameters") or {})
    out["liveaction"]["parameters"] = mask(out["liveaction"].get("parameters") or {})
    out["context"] = mask(out.get("context") or {})
    out["result"] = mask(out.get("result"))
    out["children"] = store.child_ids(doc["id"])
    if not out.get("parent"):
        out.pop("parent", None)
    if not out.get("end_timestamp"):
        out.pop("end_timestamp", None)
    else:
        elapsed = ids.parse_iso(out["end_timestamp"]) - ids.parse_iso(out["start_timestamp"])
        out["elapsed_seconds"] = round(elapsed.total_seconds(), 6)
    return filter_attributes(out, include, exclude)


def filter_attributes(doc: Dict[str, Any], include: Optional[List[str]],
                      exclude: Optional[List[str]]) -> Dict[str, Any]:
    """Keep only top-level keys named (first dotted part) in `include`; drop those in `exclude`."""
    if include:
        keep = {name.split(".", 1)[0] for name in include} | {"id"}
        doc = {k: v for k, v in doc.items() if k in keep}
    if exclude:
        drop = {name.split(".", 1)[0] for name in exclude} - {"id"}
        doc = {k: v for k, v in doc.items() if k not in drop}
    return doc


def runner_type(meta: Dict[str, Any]) -> Dict[str, Any]:
    """The RunnerTypeAPI shape of a runner.yaml entry."""
    return {"id": meta["name"], "uid": "runner_type:%s" % meta["name"], "name": meta["name"],
            "description": meta.get("description", ""), "enabled": meta.get("enabled", True),
            "runner_package": meta.get("runner_package"), "runner_module": meta.get("runner_module"),
            "runner_parameters": meta.get("runner_parameters") or {}, "output_key": meta.get("output_key"),
            "output_schema": meta.get("output_schema") or {}}
