"""The OpenAPI paths of the st2-mistral extension routes the compat layer adds to st2api's spec."""
from __future__ import annotations

from typing import Any, Dict, List

# StackStorm's API spec is the one with this path (st2api, st2auth and st2stream load the same
# file; only st2api's router maps /api/v1/... paths, so only st2api serves these).
ST2_API_MARK = "/api/v1/executions/{id}/re_run"
PREFIX = "/api/v1/mistral"
CONTROLLER = "st2mistral_compat.routes:controller.%s"

_USER = {"name": "user", "in": "context", "x-as": "requester_user", "description": "User performing the operation."}
_ID = {"name": "id", "in": "path", "type": "string", "required": True, "description": "StackStorm execution id"}
_TASK = {"name": "task", "in": "path", "type": "string", "required": True,
         "description": "Task name; dotted (sub.task) for a task of a subworkflow or child StackStorm workflow"}
_BODY = {"name": "body", "in": "body", "description": "Request", "schema": {"type": "object"}}
_ERROR = {"description": "Refusal or unexpected error", "schema": {"$ref": "#/definitions/Error"}}


def _operation(name: str, description: str, params: List[Dict[str, Any]], ok: str = "200") -> Dict[str, Any]:
    # No response schema of ours: st2's router validates responses only against a declared schema.
    return {"operationId": CONTROLLER % name, "description": description, "x-log-result": False,
            "parameters": [dict(p) for p in params], "x-parameters": [dict(_USER)],
            "responses": {ok: {"description": "Success"}, "default": dict(_ERROR)}}


def paths() -> Dict[str, Dict[str, Any]]:
    """path -> {method: operation}, in the shape of st2common/openapi.yaml (security: the spec's
    global one, i.e. a token or an API key, as every execution route)."""
    ex = PREFIX + "/executions/{id}"
    return {
        PREFIX + "/extensions": {"get": _operation("info", "The st2-mistral routes this API serves.", [])},
        ex + "/tree": {"get": _operation("tree", "The execution's Mistral task tree.", [_ID])},
        ex + "/tasks/{task}/context": {"get": _operation("context", "A task's inbound context (secrets masked).",
                                                         [_ID, _TASK])},
        ex + "/rerun_check": {"post": _operation("rerun_check", "What re-run --tasks would do (no change).",
                                                 [_ID, _BODY])},
        ex + "/resume_next": {"post": _operation("resume_next", "Resume after failed tasks from their next "
                                                 "tasks (a new re-run execution).", [_ID, _BODY], ok="201")},
    }


def extend(spec: Any) -> bool:
    """Add the paths to StackStorm's API spec in place; False for another spec or when present."""
    spec_paths = spec.get("paths") if isinstance(spec, dict) else None
    if not isinstance(spec_paths, dict) or ST2_API_MARK not in spec_paths:
        return False
    added = False
    for path, methods in paths().items():
        if path not in spec_paths:
            spec_paths[path] = methods
            added = True
    return added
