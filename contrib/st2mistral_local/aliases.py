"""Chatops action aliases: packs' aliases/*.yaml, format matching, /actionalias and /aliasexecution routes."""
from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from mistral_v2 import statuses
from mistral_v2.exceptions import InvalidOperationError, InvalidParametersError, St2MistralError
from st2mistral_local import ids
from st2mistral_local.rules import (
    cast_params,
    found,
    listed_in_pack,
    load_pack_objects,
    name_and_pack_problems,
    pack_dirs,
    raise_problems,
    render,
)

LOG = logging.getLogger(__name__)

API = "/api/v1"
DEFAULT_ACK = "Execution {{ execution.id }} of {{ actionalias.action_ref }} started."
DEFAULT_RESULT = ("{{ execution.action.ref }} {{ execution.status }}"
                  "{% if workflow_output %}: {{ workflow_output | to_json_string }}"
                  "{% elif execution.result.error is defined %}: {{ execution.result.error }}{% endif %}")
# Keys of a workflow result (StackStorm's mistral_v2 shape) that are not the workflow's output.
_NOT_OUTPUT = ("extra", "tasks")


def workflow_output(result: Any) -> Any:
    """The output of a workflow result: its top-level keys but `extra`/`tasks` (StackStorm's
    shape), or `output` (the "nested" result_format); None for other results."""
    if isinstance(result, dict) and "extra" in result:
        return {k: v for k, v in result.items() if k not in _NOT_OUTPUT}
    if isinstance(result, dict):
        return result.get("output")
    return None

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.-]*)\s*(?:=\s*(.*?))?\s*\}\}", re.DOTALL)
# A value in a command: quoted text, a JSON object, or plain text (shortest match).
_VALUE = r"\"(?P<{n}_dq>[^\"]*)\"|'(?P<{n}_sq>[^']*)'|(?P<{n}_js>\{{.*\}})|(?P<{n}_raw>.+?)"
_KV_AT_END = re.compile(r"(?:^|\s+)([A-Za-z_][\w.-]*)=(\"[^\"]*\"|'[^']*'|\{.*?\}|\S+)\s*$", re.DOTALL)


# ---- formats -------------------------------------------------------------------------------

def representations(fmt: Any) -> Tuple[str, List[str]]:
    """(display, representations) of one alias format (a string, or {display, representation})."""
    if isinstance(fmt, str):
        return fmt, [fmt]
    if isinstance(fmt, dict):
        rep = fmt.get("representation") or []
        rep = [rep] if isinstance(rep, str) else list(rep)
        return str(fmt.get("display") or (rep[0] if rep else "")), [r for r in rep if isinstance(r, str)]
    raise InvalidParametersError("An alias format must be a string or a mapping, got %r." % (fmt,))


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


@dataclass
class FormatPattern:
    """A compiled alias format: a regex over the command plus the parameters' defaults."""

    format: str
    regex: "re.Pattern[str]"
    names: List[str]
    defaults: Dict[str, str] = field(default_factory=dict)


def _safe_group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def compile_format(fmt: str) -> FormatPattern:
    """Compile `fmt` ("run {{wf}} with {{count=2}}"): literal text must appear as written (any
    run of spaces matches any run of spaces), `{{name}}` takes a value, `{{name=default}}` is optional."""
    parts: List[str] = []
    names: List[str] = []
    defaults: Dict[str, str] = {}
    pos = 0
    for match in _PLACEHOLDER.finditer(fmt):
        literal = fmt[pos:match.start()]
        lead = ""
        if literal and literal[-1].isspace():
            literal, lead = literal.rstrip(), r"\s+"
        parts.append(r"\s+".join(re.escape(w) for w in re.split(r"\s+", literal)) if literal.strip() else
                     (r"\s*" if literal else ""))
        name = match.group(1)
        if name in names:
            raise InvalidParametersError('Alias format "%s" names parameter "%s" twice.' % (fmt, name))
        names.append(name)
        value = "(?:%s)" % _VALUE.format(n=_safe_group(name))
        if match.group(2) is not None:
            defaults[name] = _unquote(match.group(2).strip())
            parts.append("(?:%s%s)?" % (lead or r"\s*", value))
        else:
            parts.append(lead + value)
        pos = match.end()
    tail = fmt[pos:]
    if tail.strip():
        parts.append((r"\s+" if tail[0].isspace() else "") + r"\s+".join(re.escape(w) for w in tail.split()))
    regex = re.compile(r"^\s*" + "".join(parts) + r"\s*$", re.DOTALL)
    return FormatPattern(fmt, regex, names, defaults)


def split_trailing_pairs(command: str) -> Tuple[str, Dict[str, str]]:
    """(command without its trailing key=value pairs, those pairs)."""
    pairs: Dict[str, str] = {}
    rest = command
    while True:
        match = _KV_AT_END.search(rest)
        if not match:
            break
        pairs.setdefault(match.group(1), _unquote(match.group(2)))
        rest = rest[:match.start()]
    return rest, dict(reversed(list(pairs.items())))


def extract(fmt: str, command: str) -> Optional[Dict[str, str]]:
    """Parameters `command` gives for format `fmt`, or None when it does not match.

    Trailing `key=value` pairs set extra parameters (as in StackStorm) when the rest matches.
    """
    pattern = compile_format(fmt)

    def values(match: "re.Match[str]") -> Dict[str, str]:
        out: Dict[str, str] = {}
        for name in pattern.names:
            g = _safe_group(name)
            groups = [match.group(g + s) for s in ("_dq", "_sq", "_js", "_raw")]
            found = next((v for v in groups if v is not None), None)
            if found is not None:
                out[name] = found
            elif name in pattern.defaults:
                out[name] = pattern.defaults[name]
        return out

    rest, pairs = split_trailing_pairs(command)
    if pairs:
        match = pattern.regex.match(rest)
        if match:
            out = values(match)
            out.update(pairs)
            return out
    match = pattern.regex.match(command)
    return values(match) if match else None


# ---- aliases -------------------------------------------------------------------------------

@dataclass
class Alias:
    """One registered action alias."""

    id: str
    pack: str
    name: str
    action_ref: str
    formats: List[Any]
    description: str = ""
    enabled: bool = True
    ack: Dict[str, Any] = field(default_factory=dict)
    result: Dict[str, Any] = field(default_factory=dict)
    immutable_parameters: Dict[str, Any] = field(default_factory=dict)
    metadata_file: str = ""

    @property
    def ref(self) -> str:
        return "%s.%s" % (self.pack, self.name)

    def context_ref(self) -> Dict[str, str]:
        """`action_alias_ref` in an alias execution's context, as StackStorm 3.9 stores it
        ({"id", "name"}: st2common's get_ref_from_model; not "pack.name")."""
        return {"id": self.id, "name": self.name}

    def api(self) -> Dict[str, Any]:
        """The ActionAliasAPI shape."""
        return {"id": self.id, "uid": "action:%s:%s" % (self.pack, self.name), "ref": self.ref, "pack": self.pack,
                "name": self.name, "description": self.description, "enabled": self.enabled,
                "action_ref": self.action_ref, "formats": copy.deepcopy(self.formats), "ack": copy.deepcopy(self.ack),
                "result": copy.deepcopy(self.result), "immutable_parameters": copy.deepcopy(self.immutable_parameters),
                "metadata_file": self.metadata_file}


def check_alias(pack: str, meta: Any, source: str) -> Alias:
    """Validate one alias; every problem is named in one ConfigurationError."""
    problems = name_and_pack_problems("alias", pack, meta, source)
    name: Any = meta.get("name")
    if not isinstance(meta.get("action_ref"), str) or "." not in meta.get("action_ref", ""):
        problems.append('"action_ref" (e.g. mistral_examples.sequential) is required')
    formats = meta.get("formats")
    if not isinstance(formats, list) or not formats:
        problems.append('"formats" must be a non-empty list')
        formats = []
    for fmt in formats:
        try:
            for rep in representations(fmt)[1]:
                compile_format(rep)
        except (St2MistralError, re.error) as exc:
            problems.append("format %r: %s" % (fmt, exc))
    for key in ("ack", "result", "immutable_parameters"):
        if not isinstance(meta.get(key) or {}, dict):
            problems.append('"%s" must be a mapping' % key)
    raise_problems(source, problems)
    return Alias(id=ids.new_id(), pack=pack, name=name, action_ref=meta["action_ref"], formats=list(formats),
                 description=meta.get("description") or "", enabled=bool(meta.get("enabled", True)),
                 ack=dict(meta.get("ack") or {}), result=dict(meta.get("result") or {}),
                 immutable_parameters=dict(meta.get("immutable_parameters") or {}), metadata_file=source)


def load_aliases(dirs: List[str]) -> List[Alias]:
    """Aliases of every pack dir; all problems in all files reported together."""
    return load_pack_objects(dirs, "aliases", check_alias, lambda a: a.name,
                             'alias name "%s" is used twice', "Invalid action aliases")


def match_command(aliases: List[Alias], command: str) -> Tuple[Alias, str, str]:
    """(alias, display, representation) of the one enabled alias format matching `command`."""
    if not isinstance(command, str) or not command.strip():
        raise InvalidParametersError('"command" (the chat command text) is required.')
    found = []
    for alias in aliases:
        if not alias.enabled:
            continue
        for fmt in alias.formats:
            display, reps = representations(fmt)
            found += [(alias, display, rep) for rep in reps if extract(rep, command) is not None]
    if not found:
        raise InvalidParametersError("Command '%s' matched no patterns" % command)
    if len(found) > 1:
        raise InvalidParametersError("Command '%s' matched more than 1 pattern: %s" % (
            command, "; ".join("%s: %s" % (a.ref, rep) for a, _, rep in found)))
    return found[0]


def render_message(template: str, context: Dict[str, Any]) -> str:
    """A rendered ack/result text; a template problem is reported in the text itself."""
    try:
        return str(render(template, context))
    except St2MistralError as exc:
        return "Cannot render the message: %s" % exc


def reply_for(alias: Optional[Alias], execution: Dict[str, Any]) -> Dict[str, Any]:
    """The chat reply of a (finished) alias execution: {execution_id, status, completed, message}."""
    completed = statuses.is_completed(execution["status"])
    out = {"execution_id": execution["id"], "status": execution["status"], "completed": completed,
           "action_alias_ref": (execution.get("context") or {}).get("action_alias_ref"), "message": None}
    if not completed:
        return out
    result = alias.result if alias else {}
    if result.get("enabled", True) is False:
        return out
    out["message"] = render_message(result.get("format") or DEFAULT_RESULT,
                                    {"execution": execution,
                                     "workflow_output": workflow_output(execution.get("result"))})
    if isinstance(result.get("extra"), dict):
        try:
            out["extra"] = render(result["extra"], {"execution": execution})
        except St2MistralError as exc:
            out["extra"] = "Cannot render extra: %s" % exc
    return out


class AliasRegistry:
    """The registered aliases and how to run them."""

    def __init__(self, host: Any, aliases: List[Alias]) -> None:
        self.host = host
        self.aliases = aliases

    def get(self, ref_or_name_or_id: str) -> Optional[Alias]:
        return next((a for a in self.aliases if ref_or_name_or_id in (a.ref, a.name, a.id)), None)

    def execute(self, body: Dict[str, Any], requester: str) -> Dict[str, Any]:
        """Run the alias `body` names (or the one matching its command); the AliasExecution result."""
        from st2mistral_local import views
        from st2mistral_local.container import NotFoundError

        command = body.get("command")
        if not isinstance(command, str) or not command.strip():
            raise InvalidParametersError('"command" (the chat command text) is required.')
        if body.get("name"):
            alias = self.get(str(body["name"]))
            if alias is None:
                raise NotFoundError('Unable to identify action alias with name "%s".' % body["name"])
            if not alias.enabled:
                raise InvalidOperationError('Action alias with name "%s" is disabled.' % alias.name)
            rep = body.get("format")
            reps = [r for f in alias.formats for r in representations(f)[1]]
            if rep is None:
                rep = next((r for r in reps if extract(r, command) is not None), None)
                if rep is None:
                    raise InvalidParametersError('Command "%s" matches no format of alias %s (formats: %s).' % (
                        command, alias.ref, "; ".join(reps)))
        else:
            alias, _, rep = match_command(self.aliases, command)
        values = extract(rep, command)
        if values is None:
            raise InvalidParametersError('Command "%s" doesn\'t match format string "%s"' % (command, rep))
        action = self.host.store.get_action(alias.action_ref)
        if action is None:
            raise NotFoundError('Action "%s" of alias %s is not registered.' % (alias.action_ref, alias.ref))
        params = cast_params(self.host.container.schema_for(action), values)
        params.update(copy.deepcopy(alias.immutable_parameters))
        context = {"action_alias_ref": alias.context_ref(), "api_user": body.get("user") or requester,
                   "user": requester, "source_channel": body.get("source_channel") or "api"}
        route = body.get("notification_route") or body.get("notification_channel")
        if route:
            context["notification_route"] = route
        doc, _ = self.host.container.create({"action": alias.action_ref, "parameters": params, "context": context},
                                            requester)
        LOG.info("alias %s ran %s as execution %s for %s", alias.ref, alias.action_ref, doc["id"], requester)
        out: Dict[str, Any] = {"execution": views.execution(self.host.store, doc), "actionalias": alias.api()}
        if alias.ack.get("enabled", True) is not False:
            out["message"] = render_message(alias.ack.get("format") or DEFAULT_ACK, out)
        return out


def register(app: Any, host: Any) -> AliasRegistry:
    """Load the packs' aliases and add the /actionalias and /aliasexecution routes."""
    from flask import Response, g, jsonify, request

    from st2mistral_local import views

    registry = AliasRegistry(host, load_aliases(pack_dirs(host)))
    LOG.info("registered %d action aliases", len(registry.aliases))
    app.extensions["st2mistral_aliases"] = registry

    def body() -> Dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise InvalidParametersError("The request body must be a JSON object.")
        return data

    @app.get(API + "/actionalias")
    def list_aliases() -> Response:
        return listed_in_pack(registry.aliases, request.args.get("pack"))

    @app.post(API + "/actionalias/match")
    def match_alias() -> Response:
        alias, display, rep = match_command(registry.aliases, str(body().get("command") or ""))
        return jsonify({"actionalias": alias.api(), "display": display, "representation": rep})

    @app.get(API + "/actionalias/<ref_or_id>")
    def get_alias(ref_or_id: str) -> Response:
        return found(registry.get(ref_or_id), "Action alias", ref_or_id)

    @app.post(API + "/aliasexecution")
    def alias_execution() -> Response:
        resp = jsonify(registry.execute(body(), g.user))
        resp.status_code = 201
        return resp

    @app.post(API + "/aliasexecution/match_and_execute")
    def match_and_execute() -> Response:
        data = dict(body())
        data.pop("name", None)
        data.pop("format", None)
        resp = jsonify({"results": [registry.execute(data, g.user)]})
        resp.status_code = 201
        return resp

    @app.get(API + "/aliasexecution/<execution_id>/reply")
    def alias_reply(execution_id: str) -> Response:
        doc = views.execution(host.store, host.container.get(execution_id))
        ref = (doc.get("context") or {}).get("action_alias_ref")
        if isinstance(ref, dict):
            ref = ref.get("id")
        if not ref:
            raise InvalidParametersError("Execution %s was not started by an action alias." % execution_id)
        return jsonify(reply_for(registry.get(ref), doc))

    return registry
