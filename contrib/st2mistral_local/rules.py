"""Rules on webhook triggers: packs' rules/*.yaml, criteria matching, rule enforcement, /webhooks routes."""
from __future__ import annotations

import collections
import copy
import fnmatch
import glob
import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Tuple, TypeVar

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

from mistral_v2.exceptions import ConfigurationError, InvalidParametersError, St2MistralError
from st2mistral_local import ids, packs

LOG = logging.getLogger(__name__)

WEBHOOK_TRIGGER = "core.st2.webhook"
SYSTEM_USER = "stanley"
API = "/api/v1"
# Headers never copied into a trigger payload (credentials), compared case-insensitively.
AUTH_HEADERS = frozenset({"x-auth-token", "st2-api-key", "cookie", "authorization"})
KEEP_INSTANCES = 1000


# ---- criteria operators (StackStorm's names and semantics) -----------------------------------

def _strings(value: Any, pattern: Any) -> Tuple[str, str]:
    def text(v: Any) -> str:
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        return v if isinstance(v, str) else str(v)
    return text(value), text(pattern)


def _str_op(fn: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def op(value: Any, pattern: Any) -> bool:
        if pattern is None or value is None:
            return False
        return fn(*_strings(value, pattern))
    return op


def _equals(value: Any, pattern: Any) -> bool:
    if pattern is None:
        return False
    if isinstance(value, (int, float, bool)) and isinstance(pattern, (int, float, bool)):
        return value == pattern
    return _strings(value, pattern)[0] == _strings(value, pattern)[1]


def _compare(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def op(value: Any, pattern: Any) -> bool:
        if pattern is None or value is None:
            return False
        try:
            return fn(float(value), float(pattern))
        except (TypeError, ValueError):
            return False
    return op


def _inside(value: Any, pattern: Any) -> bool:
    if pattern is None or value is None:
        return False
    if isinstance(pattern, (list, tuple, set)):
        return value in pattern
    return _strings(value, pattern)[0] in _strings(value, pattern)[1]


OPERATORS: Dict[str, Callable[[Any, Any], bool]] = {
    "equals": _equals,
    "nequals": lambda v, p: not _equals(v, p),
    "iequals": _str_op(lambda v, p: v.lower() == p.lower()),
    "contains": _str_op(lambda v, p: p in v),
    "icontains": _str_op(lambda v, p: p.lower() in v.lower()),
    "ncontains": _str_op(lambda v, p: p not in v),
    "incontains": _str_op(lambda v, p: p.lower() not in v.lower()),
    "startswith": _str_op(lambda v, p: v.startswith(p)),
    "istartswith": _str_op(lambda v, p: v.lower().startswith(p.lower())),
    "endswith": _str_op(lambda v, p: v.endswith(p)),
    "iendswith": _str_op(lambda v, p: v.lower().endswith(p.lower())),
    "matchwildcard": _str_op(lambda v, p: fnmatch.fnmatch(v, p)),
    "regex": _str_op(lambda v, p: re.search(p, v) is not None),
    "iregex": _str_op(lambda v, p: re.search(p, v, re.IGNORECASE) is not None),
    "matchregex": _str_op(lambda v, p: re.match(p, v, re.DOTALL) is not None),
    "lessthan": _compare(lambda v, p: v < p),
    "greaterthan": _compare(lambda v, p: v > p),
    "exists": lambda v, p: v is not None,
    "nexists": lambda v, p: v is None,
    "inside": _inside,
    "ninside": lambda v, p: p is not None and v is not None and not _inside(v, p),
}
OPERATOR_ALIASES = {"eq": "equals", "neq": "nequals", "ieq": "iequals", "lt": "lessthan",
                    "gt": "greaterthan", "in": "inside", "nin": "ninside"}


def operator_name(name: Any) -> Optional[str]:
    """The canonical operator name for `name` (long or short form), or None when unknown."""
    if not isinstance(name, str):
        return None
    name = OPERATOR_ALIASES.get(name.lower(), name.lower())
    return name if name in OPERATORS else None


_MISSING = object()


def lookup(data: Dict[str, Any], path: str) -> Any:
    """The value at dotted `path` ("trigger.body.a.0.b") in `data`, or None when absent."""
    current: Any = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else _MISSING
        else:
            current = _MISSING
        if current is _MISSING:
            return None
    return current


def criterion_matches(operator: str, value: Any, pattern: Any) -> bool:
    """Apply one criterion; a bad pattern (e.g. invalid regex) never matches."""
    op = operator_name(operator)
    if op is None:
        raise InvalidParametersError('Unknown criteria operator "%s" (known: %s).' % (
            operator, ", ".join(sorted(OPERATORS))))
    try:
        return bool(OPERATORS[op](value, pattern))
    except re.error:
        return False


# ---- templates and parameter casting -----------------------------------------------------------

_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
_ENV.filters["to_json_string"] = lambda v: json.dumps(v, sort_keys=True)
_ENV.filters["json_escape"] = lambda v: json.dumps(str(v))[1:-1]


def render(value: Any, context: Dict[str, Any]) -> Any:
    """`value` with every string rendered as a Jinja template over `context` (lists/dicts recursed).

    An undefined variable or a syntax error raises InvalidParametersError naming the template.
    """
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        try:
            return _ENV.from_string(value).render(**context)
        except jinja2.TemplateError as exc:
            raise InvalidParametersError('Cannot render "%s": %s' % (value, exc)) from None
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


def _cast_one(kind: Any, value: str) -> Any:
    kinds = kind if isinstance(kind, list) else [kind]
    text = value.strip()
    for k in kinds:
        try:
            if k == "integer":
                return int(text)
            if k == "number":
                return float(text) if any(c in text for c in ".eE") else int(text)
            if k == "boolean" and text.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
                return text.lower() in ("true", "1", "yes", "on")
            if k in ("array", "object"):
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
                if k == "object" and isinstance(parsed, dict):
                    return parsed
                if k == "array":
                    return parsed if isinstance(parsed, list) else [p.strip() for p in text.split(",") if p.strip()]
            if k == "string":
                return value
        except ValueError:
            continue
    return value


def cast_params(schema: Dict[str, Any], values: Dict[str, Any]) -> Dict[str, Any]:
    """String values converted to the parameter's declared type where possible (as st2 does)."""
    out = {}
    for name, value in values.items():
        spec = schema.get(name) or {}
        out[name] = _cast_one(spec.get("type"), value) if isinstance(value, str) and spec.get("type") else value
    return out


# ---- pack files ------------------------------------------------------------------------------

def pack_dirs(host: Any) -> List[str]:
    """Directories of the packs the host registered: this repo's pack first, then --packs."""
    dirs: List[str] = []
    repo = packs.repo_pack_dir()
    for d in ([repo] if repo else []) + list(getattr(host.settings, "pack_dirs", []) or []):
        d = os.path.abspath(d)
        if d not in dirs:
            dirs.append(d)
    return dirs


def pack_name(pack_dir: str) -> str:
    """The pack's ref (pack.yaml `ref`, else `name`)."""
    try:
        with open(os.path.join(pack_dir, "pack.yaml")) as fh:
            meta = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError("Pack %s has no readable pack.yaml: %s" % (pack_dir, exc)) from None
    name = (meta.get("ref") or meta.get("name")) if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise ConfigurationError('%s/pack.yaml needs a "ref" or "name"' % pack_dir)
    return name


def read_pack_files(pack_dir: str, subdir: str) -> Tuple[List[Tuple[str, Any]], List[str]]:
    """((relative path, parsed YAML) of every <pack>/<subdir>/*.yaml|yml, problems of unreadable files)."""
    found = sorted(glob.glob(os.path.join(pack_dir, subdir, "*.yaml")) +
                   glob.glob(os.path.join(pack_dir, subdir, "*.yml")))
    out, problems = [], []
    for path in found:
        rel = os.path.relpath(path, pack_dir)
        try:
            with open(path) as fh:
                out.append((rel, yaml.safe_load(fh)))
        except (OSError, yaml.YAMLError) as exc:
            problems.append("%s is not valid YAML: %s" % (path, exc))
    return out, problems


_Checked = TypeVar("_Checked")


def load_pack_objects(dirs: List[str], subdir: str, check: Callable[[str, Any, str], _Checked],
                      key: Callable[[_Checked], str], duplicate: str, invalid: str) -> List[_Checked]:
    """`check(pack, meta, "<pack>:<file>")` of every <pack>/<subdir>/*.yaml of every pack dir.

    All problems in all files (and every `key` used twice, as `duplicate % key`) are reported
    together in one ConfigurationError starting with `invalid`.
    """
    objects, problems = [], []
    for pack_dir in dirs:
        if not os.path.isdir(os.path.join(pack_dir, subdir)):
            continue
        pack = pack_name(pack_dir)
        files, unreadable = read_pack_files(pack_dir, subdir)
        problems += unreadable
        for rel, meta in files:
            try:
                objects.append(check(pack, meta, "%s:%s" % (pack, rel)))
            except St2MistralError as exc:
                problems.append(str(exc))
    keys = [key(o) for o in objects]
    problems += [duplicate % k for k in sorted({k for k in keys if keys.count(k) > 1})]
    if problems:
        raise ConfigurationError("%s: %s" % (invalid, " | ".join(problems)))
    return objects


def name_and_pack_problems(kind: str, pack: str, meta: Any, source: str) -> List[str]:
    """Problems with the "name" and "pack" of one pack file's `kind` metadata; raises at once
    when `meta` is not a mapping."""
    if not isinstance(meta, dict):
        raise ConfigurationError("%s: %s metadata must be a mapping" % (source, kind))
    problems = []
    name: Any = meta.get("name")
    if not isinstance(name, str) or not name or "." in name:
        problems.append('"name" must be a non-empty string without dots')
    if meta.get("pack") not in (None, pack):
        problems.append('"pack" is "%s" but the pack is "%s"' % (meta.get("pack"), pack))
    return problems


def raise_problems(source: str, problems: List[str]) -> None:
    """One ConfigurationError naming `source` and every problem, if there are any."""
    if problems:
        raise ConfigurationError("%s: %s" % (source, "; ".join(problems)))


# ---- rules -----------------------------------------------------------------------------------

@dataclass
class Rule:
    """One registered rule."""

    id: str
    pack: str
    name: str
    trigger: Dict[str, Any]
    criteria: Dict[str, Dict[str, Any]]
    action: Dict[str, Any]
    enabled: bool = True
    description: str = ""
    context: Dict[str, Any] = field(default_factory=dict)
    metadata_file: str = ""

    @property
    def ref(self) -> str:
        return "%s.%s" % (self.pack, self.name)

    @property
    def url(self) -> str:
        return str((self.trigger.get("parameters") or {}).get("url", "")).strip("/")

    def api(self) -> Dict[str, Any]:
        """The RuleAPI shape st2 shows."""
        return {"id": self.id, "uid": "rule:%s:%s" % (self.pack, self.name), "ref": self.ref, "pack": self.pack,
                "name": self.name, "description": self.description, "enabled": self.enabled,
                "trigger": {"type": self.trigger["type"], "ref": self.trigger["type"],
                            "parameters": copy.deepcopy(self.trigger.get("parameters") or {})},
                "criteria": copy.deepcopy(self.criteria), "action": copy.deepcopy(self.action),
                "context": copy.deepcopy(self.context), "metadata_file": self.metadata_file, "tags": []}


def check_rule(pack: str, meta: Any, source: str) -> Rule:
    """Validate one rule's metadata; every problem is named in one ConfigurationError."""
    problems = name_and_pack_problems("rule", pack, meta, source)
    name: Any = meta.get("name")
    trigger: Any = meta.get("trigger")
    if not isinstance(trigger, dict) or trigger.get("type") != WEBHOOK_TRIGGER:
        problems.append('"trigger.type" must be %s (the only trigger this host dispatches)' % WEBHOOK_TRIGGER)
    elif not isinstance(trigger.get("parameters"), dict) or not str(trigger["parameters"].get("url") or "").strip("/"):
        problems.append('"trigger.parameters.url" (the webhook name) is required')
    criteria = meta.get("criteria") or {}
    if not isinstance(criteria, dict):
        problems.append('"criteria" must be a mapping of "trigger.<path>" -> {type, pattern}')
        criteria = {}
    for key, crit in criteria.items():
        if not isinstance(key, str) or not (key == "trigger" or key.startswith("trigger.")):
            problems.append('criteria key "%s" must start with "trigger."' % key)
        if not isinstance(crit, dict) or operator_name(crit.get("type")) is None:
            problems.append('criteria "%s" needs a "type" among: %s' % (key, ", ".join(sorted(OPERATORS))))
        elif crit.get("pattern") is None:  # StackStorm refuses it too, for every operator (exists included)
            problems.append('criteria "%s": no pattern specified for operator %s' % (key, crit.get("type")))
        elif (operator_name(crit.get("type")) in ("regex", "iregex", "matchregex")
              and isinstance(crit.get("pattern"), str) and "{{" not in crit["pattern"]):
            try:
                re.compile(crit["pattern"])
            except re.error as exc:
                problems.append('criteria "%s" has an invalid regex "%s": %s' % (key, crit["pattern"], exc))
    action: Any = meta.get("action")
    if not isinstance(action, dict) or not isinstance(action.get("ref"), str) or "." not in action.get("ref", ""):
        problems.append('"action.ref" (e.g. mistral_examples.sequential) is required')
    elif not isinstance(action.get("parameters") or {}, dict):
        problems.append('"action.parameters" must be a mapping')
    context = meta.get("context") or {}
    if not isinstance(context, dict):
        problems.append('"context" must be a mapping')
    raise_problems(source, problems)
    return Rule(id=ids.new_id(), pack=pack, name=name, trigger=dict(trigger), criteria=dict(criteria),
                action={"ref": action["ref"], "parameters": dict(action.get("parameters") or {})},
                enabled=bool(meta.get("enabled", True)), description=meta.get("description") or "",
                context=dict(context), metadata_file=source)


def load_rules(dirs: List[str]) -> List[Rule]:
    """Rules of every pack dir; all problems in all files reported together."""
    return load_pack_objects(dirs, "rules", check_rule, lambda r: r.ref,
                             'rule "%s" is defined twice', "Invalid rules")


def rule_matches(rule: Rule, payload: Any) -> Tuple[bool, str]:
    """(matched, why not) for `payload` (the trigger instance payload)."""
    data = {"trigger": payload}
    for key, crit in rule.criteria.items():
        value = lookup(data, key)
        pattern = crit.get("pattern")
        if isinstance(pattern, str) and "{{" in pattern:
            pattern = render(pattern, data)
        if not criterion_matches(crit["type"], value, pattern):
            return False, "%s %s %r is false" % (key, crit["type"], pattern)
    return True, ""


def webhook_payload(headers: Dict[str, str], body: Any) -> Dict[str, Any]:
    """The core.st2.webhook trigger payload: {headers, headers_lower, body}, credentials left out."""
    kept = {k: v for k, v in headers.items() if k.lower() not in AUTH_HEADERS}
    return {"headers": kept, "headers_lower": {k.lower(): v for k, v in kept.items()}, "body": body}


class RuleEngine:
    """Registered rules plus the recent trigger instances and rule enforcements (kept in memory)."""

    def __init__(self, host: Any, rules: List[Rule]) -> None:
        self.host = host
        self.rules = rules
        self._lock = threading.Lock()
        self.instances: Deque[Dict[str, Any]] = collections.deque(maxlen=KEEP_INSTANCES)
        self.enforcements: Deque[Dict[str, Any]] = collections.deque(maxlen=KEEP_INSTANCES)

    def urls(self) -> List[str]:
        return sorted({r.url for r in self.rules})

    def get_rule(self, ref_or_id: str) -> Optional[Rule]:
        return next((r for r in self.rules if ref_or_id in (r.ref, r.id)), None)

    def dispatch(self, hook: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        """Record a trigger instance for webhook `hook` and enforce every matching enabled rule."""
        instance = {"id": ids.new_id(), "trigger": WEBHOOK_TRIGGER, "occurrence_time": ids.now_iso(),
                    "payload": payload, "status": "processing", "trigger_parameters": {"url": hook}}
        with self._lock:
            self.instances.append(instance)
        failed = False
        for rule in [r for r in self.rules if r.url == hook and r.enabled]:
            try:
                matched, why = rule_matches(rule, payload)
            except St2MistralError as exc:
                matched, why = False, str(exc)
                failed = True
            if not matched:
                LOG.info("rule %s does not match trigger instance %s: %s", rule.ref, instance["id"], why)
                continue
            self._enforce(rule, instance)
        instance["status"] = "processing_failed" if failed else "processed"
        return instance

    def _enforce(self, rule: Rule, instance: Dict[str, Any]) -> Dict[str, Any]:
        enforcement = {"id": ids.new_id(), "rule": {"id": rule.id, "ref": rule.ref, "name": rule.name},
                       "trigger_instance_id": instance["id"], "execution_id": None,
                       "enforced_at": ids.now_iso(), "status": "succeeded", "failure_reason": ""}
        user = rule.context.get("user") or SYSTEM_USER
        context = {"trigger_instance": {"id": instance["id"], "name": None, "trigger": instance["trigger"]},
                   "rule": {"id": rule.id, "ref": rule.ref, "name": rule.name}, "user": user}
        try:
            action = self.host.store.get_action(rule.action["ref"])
            if action is None:
                raise InvalidParametersError('Action "%s" of rule %s is not registered.'
                                             % (rule.action["ref"], rule.ref))
            params = render(rule.action.get("parameters") or {}, {"trigger": instance["payload"]})
            params = cast_params(self.host.container.schema_for(action), params)
            doc, _ = self.host.container.create(
                {"action": rule.action["ref"], "parameters": params, "context": context, "user": user}, user)
            enforcement["execution_id"] = doc["id"]
            LOG.info("rule %s enforced for trigger instance %s: execution %s", rule.ref, instance["id"], doc["id"])
        except St2MistralError as exc:
            enforcement.update(status="failed", failure_reason=str(exc))
            LOG.warning("rule %s failed for trigger instance %s: %s", rule.ref, instance["id"], exc)
        with self._lock:
            self.enforcements.append(enforcement)
        return enforcement


def listed(items: List[Dict[str, Any]]) -> Any:
    """A flask JSON response of `items` with StackStorm's X-Total-Count header."""
    from flask import jsonify

    resp = jsonify(items)
    resp.headers["X-Total-Count"] = str(len(items))
    return resp


def listed_in_pack(items: Iterable[Any], pack: Optional[str]) -> Any:
    """`listed` of the `api()` views of pack resources (rules, aliases), of one pack when given."""
    return listed([i.api() for i in items if not pack or i.pack == pack])


def found(item: Any, what: str, ref_or_id: str) -> Any:
    """A flask JSON response of a pack resource's `api()` view; NotFoundError (404) naming it when None."""
    from flask import jsonify

    from st2mistral_local.container import NotFoundError

    if item is None:
        raise NotFoundError('%s "%s" cannot be found.' % (what, ref_or_id))
    return jsonify(item.api())


def register(app: Any, host: Any) -> RuleEngine:
    """Load the packs' rules and add /webhooks, /rules, /triggerinstances, /ruleenforcements routes."""
    from flask import Response, jsonify, request

    from st2mistral_local.container import NotFoundError

    engine = RuleEngine(host, load_rules(pack_dirs(host)))
    for rule in engine.rules:
        if host.store.get_action(rule.action["ref"]) is None:
            LOG.warning("rule %s runs action %s which is not registered", rule.ref, rule.action["ref"])
    LOG.info("registered %d rules on webhooks: %s", len(engine.rules), ", ".join(engine.urls()) or "none")
    app.extensions["st2mistral_rules"] = engine

    @app.post(API + "/webhooks/<path:hook>")
    def post_webhook(hook: str) -> Response:
        hook = hook.strip("/")
        if hook not in engine.urls():
            raise NotFoundError("Webhook %s not registered with st2" % hook)
        body = request.get_json(silent=True)
        if body is None and request.get_data():
            raise InvalidParametersError("The webhook body is not valid JSON.")
        instance = engine.dispatch(hook, webhook_payload(dict(request.headers), body))
        resp = jsonify(body)
        resp.status_code = 202
        resp.headers["St2-Trigger-Instance-Id"] = instance["id"]
        return resp

    @app.get(API + "/webhooks")
    def list_webhooks() -> Response:
        return listed([{"type": WEBHOOK_TRIGGER, "parameters": {"url": u}} for u in engine.urls()])

    @app.get(API + "/rules")
    def list_rules() -> Response:
        return listed_in_pack(engine.rules, request.args.get("pack"))

    @app.get(API + "/rules/<ref_or_id>")
    def get_rule(ref_or_id: str) -> Response:
        return found(engine.get_rule(ref_or_id), "Rule", ref_or_id)

    @app.get(API + "/triggerinstances")
    def list_trigger_instances() -> Response:
        return listed(list(reversed(engine.instances)))

    @app.get(API + "/triggerinstances/<instance_id>")
    def get_trigger_instance(instance_id: str) -> Response:
        found = next((i for i in engine.instances if i["id"] == instance_id), None)
        if found is None:
            raise NotFoundError('Trigger instance "%s" cannot be found.' % instance_id)
        return jsonify(found)

    @app.get(API + "/ruleenforcements")
    def list_enforcements() -> Response:
        wanted_ti = request.args.get("trigger_instance")
        wanted_rule = request.args.get("rule_ref")
        return listed([e for e in reversed(engine.enforcements)
                       if (not wanted_ti or e["trigger_instance_id"] == wanted_ti)
                       and (not wanted_rule or e["rule"]["ref"] == wanted_rule)])

    return engine
