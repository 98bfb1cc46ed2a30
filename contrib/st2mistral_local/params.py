"""Action parameter handling: merge runner and action schemas, validate, apply defaults; secret parameter names."""
from __future__ import annotations

import copy
import re
import shlex
from typing import Any, Dict, List, Optional, Tuple

from mistral_v2 import masking
from mistral_v2.exceptions import InvalidParametersError

MASK = masking.MASK
_TYPES = {"string", "integer", "number", "boolean", "object", "array", "null"}
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def merge_schema(runner_params: Dict[str, Any], action_params: Dict[str, Any]) -> Dict[str, Any]:
    """Runner parameters overlaid by the action's metadata (an action may override defaults)."""
    merged = copy.deepcopy(runner_params or {})
    for name, spec in (action_params or {}).items():
        merged[name] = dict(merged.get(name, {}), **(spec or {}))
    return merged


def _type_ok(expected: Any, value: Any) -> bool:
    kinds = expected if isinstance(expected, list) else [expected]
    for kind in kinds:
        if kind == "string" and isinstance(value, str):
            return True
        if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if kind == "boolean" and isinstance(value, bool):
            return True
        if kind == "object" and isinstance(value, dict):
            return True
        if kind == "array" and isinstance(value, list):
            return True
        if kind == "null" and value is None:
            return True
    return False


def check_schema(ref: str, schema: Dict[str, Any]) -> None:
    """Reject parameter metadata with unknown types or non-mapping specs."""
    problems = []
    for name, spec in (schema or {}).items():
        if not isinstance(spec, dict):
            problems.append('parameter "%s" must be a mapping, got %r' % (name, spec))
            continue
        kinds = spec.get("type")
        for kind in (kinds if isinstance(kinds, list) else [kinds] if kinds else []):
            if kind not in _TYPES:
                problems.append('parameter "%s" has unknown type "%s"' % (name, kind))
    if problems:
        raise InvalidParametersError("Invalid parameter metadata for action %s: %s" % (ref, "; ".join(problems)))


def _render(value: str, values: Dict[str, Any], quote: bool) -> str:
    def sub(match: "re.Match[str]") -> str:
        found = values.get(match.group(1))
        text = "" if found is None else str(found)
        return shlex.quote(text) if quote else text

    return _TEMPLATE.sub(sub, value)


def finalize(ref: str, schema: Dict[str, Any], supplied: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Validate `supplied` against `schema` and return every parameter with defaults applied.

    String defaults may name other parameters as ``{{ name }}``; inside ``cmd`` the inserted
    values are shell-quoted. All problems are reported together in one InvalidParametersError.
    """
    supplied = supplied or {}
    if not isinstance(supplied, dict):
        raise InvalidParametersError("Parameters for action %s must be an object, got %s"
                                     % (ref, type(supplied).__name__))
    problems: List[str] = []
    unknown = sorted(set(supplied) - set(schema))
    if unknown:
        problems.append("unknown parameter(s) %s (allowed: %s)" % (
            ", ".join('"%s"' % u for u in unknown), ", ".join(sorted(schema)) or "none"))
    final: Dict[str, Any] = {}
    for name, spec in schema.items():
        if name in supplied:
            value = supplied[name]
            if spec.get("immutable") and "default" in spec and value != spec["default"]:
                problems.append('parameter "%s" is immutable and cannot be overridden' % name)
                continue
            if spec.get("immutable") and "default" not in spec:
                problems.append('parameter "%s" is immutable and cannot be set' % name)
                continue
            if value is None and not spec.get("required"):
                final[name] = None
                continue
            if spec.get("type") and not _type_ok(spec["type"], value):
                problems.append('parameter "%s" must be of type %s, got %s (%r)' % (
                    name, spec["type"], type(value).__name__, MASK if spec.get("secret") else value))
                continue
            if "enum" in spec and value not in spec["enum"]:
                problems.append('parameter "%s" must be one of %s' % (name, spec["enum"]))
                continue
            final[name] = value
        elif "default" in spec:
            final[name] = copy.deepcopy(spec["default"])
        elif spec.get("required"):
            problems.append('required parameter "%s" is missing' % name)
    if problems:
        raise InvalidParametersError("Invalid parameters for action %s: %s" % (ref, "; ".join(problems)))
    for name, value in list(final.items()):
        if isinstance(value, str) and name not in supplied and _TEMPLATE.search(value):
            final[name] = _render(value, final, quote=(name == "cmd"))
    return final


def split(runner_schema: Dict[str, Any], final: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(runner parameters, action parameters) as StackStorm's container splits them."""
    runner = {k: v for k, v in final.items() if k in (runner_schema or {})}
    action = {k: v for k, v in final.items() if k not in (runner_schema or {})}
    return runner, action


def secret_names(schema: Dict[str, Any]) -> List[str]:
    """Names of parameters declared secret."""
    return [n for n, spec in (schema or {}).items() if isinstance(spec, dict) and spec.get("secret")]
