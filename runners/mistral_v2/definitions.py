"""Read, validate, name-check and transform Mistral definitions; upload them only when changed."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Set, Tuple

import yaml

from mistral_v2 import kv_templates, workflow_spec
from mistral_v2.exceptions import (
    DefinitionError,
    InvalidParametersError,
    MistralAPIError,
    WorkflowNotFoundError,
)

# ref -> parameter metadata ({name: {"type", "required", "default", ...}}) when `ref` is a
# registered StackStorm action, None when it is not.  Supplied by the host / StackStorm.
ActionLookup = Callable[[str], Optional[Dict[str, Any]]]

# Lazily called for the names of actions Mistral itself knows (only when no lookup is given).
MistralActions = Callable[[], Set[str]]

# libyaml's C loader/dumper when available (same results, several times faster).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Writes every value in full: Mistral 23 refuses the anchors/aliases (`&id001`, `*id001`)
    PyYAML emits for objects that appear twice (a transformed definition shares some, e.g. the
    on-skip hooks reuse on-complete entries; a source file may use anchors too)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

ST2_PROXY_ACTION = "st2.action"
MISTRAL_NAMESPACES = ("std.", "st2.")
_REF_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_.-]+$")
_NAME_RE = re.compile(r"^\s*([^\s=]+)(.*)$", re.S)
_KEY_RE = re.compile(r"\s*([A-Za-z_][\w-]*)=")
_PAIRS = {"<%": "%>", "{{": "}}", "{%": "%}"}
_BRACKETS = {"[": "]", "{": "}"}


@dataclass(frozen=True)
class PreparedDefinition:
    """A definition ready for Mistral: what to upload and which workflow to execute."""

    kind: str              # "workflow" or "workbook"
    name: str              # workflow or workbook name (= "<pack>.<action>")
    workflow_name: str     # full name of the workflow to execute
    text: str              # transformed YAML to upload

    @property
    def workbook_name(self) -> Optional[str]:
        return self.name if self.kind == "workbook" else None


# -- reading -------------------------------------------------------------------------------------


def read_definition(path: str) -> Dict[str, Any]:
    """The parsed YAML mapping in `path`; DefinitionError for missing/unreadable/invalid files."""
    if not path:
        raise DefinitionError("The action has no entry_point: no workflow definition file to run.")
    try:
        with open(path, "r", encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise DefinitionError('Workflow definition file "%s" does not exist.' % path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError('Workflow definition file "%s" cannot be read: %s' % (path, exc)) from None
    try:
        spec = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise DefinitionError('Workflow definition file "%s" is not valid YAML: %s' % (path, exc)) from None
    if not isinstance(spec, dict):
        raise DefinitionError('Workflow definition file "%s" must hold a YAML mapping, got %s.'
                              % (path, type(spec).__name__))
    if str(spec.get("version", "")) != "2.0":
        raise DefinitionError('Workflow definition file "%s" must declare version: \'2.0\'.' % path)
    return spec


def is_workbook(spec: Dict[str, Any]) -> bool:
    return "workflows" in spec


def workflows_of(spec: Dict[str, Any], path: str = "<definition>") -> Dict[str, Dict[str, Any]]:
    """{short workflow name: body} of a workflow file or workbook, shape-checked."""
    if is_workbook(spec):
        wfs = spec["workflows"]
        if not isinstance(wfs, dict) or not wfs:
            raise DefinitionError('Workbook "%s" has no workflows (workflows: must be a non-empty mapping).'
                                  % path)
    else:
        wfs = {k: v for k, v in spec.items() if k != "version"}
        if len(wfs) != 1:
            raise DefinitionError(
                'Workflow file "%s" must define exactly one workflow, found %d (%s); use a workbook '
                "(workflows:) for several." % (path, len(wfs), ", ".join(map(str, wfs)) or "none"))
    for name, body in wfs.items():
        if not isinstance(body, dict):
            raise DefinitionError('Workflow "%s" in "%s" must be a mapping.' % (name, path))
        tasks = body.get("tasks", {})
        if not isinstance(tasks, dict):
            raise DefinitionError('Workflow "%s" in "%s": tasks must be a mapping of task names.' % (name, path))
        for tname, task in tasks.items():
            if not isinstance(task, dict):
                raise DefinitionError('Task "%s" of workflow "%s" in "%s" must be a mapping.' % (tname, name, path))
    return wfs


# -- naming --------------------------------------------------------------------------------------


def resolve_names(spec: Dict[str, Any], action_ref: str, workflow_param: Optional[str],
                  path: str = "<definition>") -> Tuple[str, str]:
    """(kind, full name of the workflow to execute), enforcing StackStorm's naming rules."""
    wfs = workflows_of(spec, path)
    if not is_workbook(spec):
        (name,) = wfs.keys()
        if name != action_ref:
            raise DefinitionError('The workflow in "%s" is named "%s"; it must be named after the action: "%s".'
                                  % (path, name, action_ref))
        if workflow_param and workflow_param not in (action_ref,):
            raise DefinitionError('Runner parameter workflow="%s" does not match the workflow "%s" in "%s".'
                                  % (workflow_param, action_ref, path))
        return "workflow", action_ref
    if spec.get("name") != action_ref:
        raise DefinitionError('The workbook in "%s" is named "%s"; it must be named after the action: "%s".'
                              % (path, spec.get("name"), action_ref))
    if not workflow_param:
        if len(wfs) > 1:
            raise DefinitionError(
                'Workbook "%s" has %d workflows (%s); set runner parameter workflow to "%s.<workflow>".'
                % (action_ref, len(wfs), ", ".join(sorted(wfs)), action_ref))
        return "workbook", "%s.%s" % (action_ref, next(iter(wfs)))
    prefix = action_ref + "."
    short = workflow_param[len(prefix):] if workflow_param.startswith(prefix) else None
    if not short or short not in wfs:
        raise DefinitionError(
            'Runner parameter workflow="%s" does not name a workflow of workbook "%s"; expected one of: %s.'
            % (workflow_param, action_ref, ", ".join(prefix + w for w in sorted(wfs))))
    return "workbook", workflow_param


# -- inline parameters -----------------------------------------------------------------------------


def _scan_value(s: str, i: int) -> Tuple[str, int, bool]:
    """(raw value, next index, quoted) for the value starting at s[i]."""
    if i >= len(s) or s[i].isspace():
        return "", i, False
    ch = s[i]
    if ch in "\"'":
        j = i + 1
        while j < len(s) and s[j] != ch:
            j += 2 if s[j] == "\\" else 1
        if j >= len(s):
            raise ValueError("unterminated quote in %r" % s[i:])
        return s[i + 1:j], j + 1, True
    for opener, closer in _PAIRS.items():
        if s.startswith(opener, i):
            j = s.find(closer, i + 2)
            if j < 0:
                raise ValueError("unterminated %s in %r" % (opener, s[i:]))
            return s[i:j + 2], j + 2, True
    if ch in _BRACKETS:
        depth, j = 0, i
        while j < len(s):
            if s[j] == ch:
                depth += 1
            elif s[j] == _BRACKETS[ch]:
                depth -= 1
                if depth == 0:
                    return s[i:j + 1], j + 1, False
            j += 1
        raise ValueError("unbalanced %s in %r" % (ch, s[i:]))
    j = i
    while j < len(s) and not s[j].isspace():
        j += 1
    return s[i:j], j, False


def _coerce(raw: str, quoted: bool) -> Any:
    if quoted:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            return raw


def parse_inline(action: str) -> Tuple[str, Dict[str, Any]]:
    """Split `core.local cmd="echo hi" timeout=5` into ("core.local", {"cmd": "echo hi", "timeout": 5})."""
    m = _NAME_RE.match(action or "")
    if not m:
        raise ValueError("empty action")
    name, rest = m.group(1), m.group(2)
    params: Dict[str, Any] = {}
    i = 0
    while i < len(rest):
        if rest[i].isspace():
            i += 1
            continue
        km = _KEY_RE.match(rest, i)
        if not km:
            raise ValueError("expected key=value at %r" % rest[i:])
        raw, i, quoted = _scan_value(rest, km.end())
        params[km.group(1)] = _coerce(raw, quoted)
    return name, params


# -- transformation --------------------------------------------------------------------------------


def check_parameters(ref: str, meta: Optional[Dict[str, Any]], params: Dict[str, Any], where: str) -> None:
    """InvalidParametersError naming unknown and missing required parameters of action `ref`."""
    if meta is None:
        return
    unknown = sorted(set(params) - set(meta))
    missing = sorted(n for n, m in meta.items()
                     if isinstance(m, dict) and m.get("required") and m.get("default") is None
                     and n not in params)
    problems = []
    if unknown:
        problems.append('unexpected parameter(s) "%s"' % '", "'.join(unknown))
    if missing:
        problems.append('missing required parameter(s) "%s"' % '", "'.join(missing))
    if problems:
        raise InvalidParametersError('%s: action "%s" has %s.' % (where, ref, " and ".join(problems)))


class _Classifier:
    """Decides whether an `action:` name is a StackStorm action ref."""

    def __init__(self, lookup: Optional[ActionLookup], mistral_actions: Optional[MistralActions],
                 local_workflows: Set[str]) -> None:
        self.lookup = lookup
        self._mistral_actions = mistral_actions
        self._known: Optional[Set[str]] = None
        self.local_workflows = local_workflows

    def is_mistral_action(self, name: str) -> bool:
        if self._known is None:
            self._known = set(self._mistral_actions()) if self._mistral_actions else set()
        return name in self._known

    def st2_meta(self, name: str) -> Tuple[bool, Optional[Dict[str, Any]]]:
        """(is a StackStorm action, its parameter metadata if known)."""
        if name in self.local_workflows or name.startswith(MISTRAL_NAMESPACES):
            return False, None
        if self.lookup is not None:
            meta = self.lookup(name)
            return (meta is not None), meta
        if not _REF_RE.match(name):
            return False, None
        return not self.is_mistral_action(name), None


def _transform_task(task: Dict[str, Any], where: str, classifier: _Classifier,
                    action_key: str = "action", input_key: str = "input") -> Dict[str, Any]:
    """A task (`action`/`input`) or an ad-hoc action (`base`/`base-input`) calling a StackStorm
    action rewritten to `st2.action` with {ref, parameters}; anything else unchanged."""
    action = task.get(action_key)
    if not isinstance(action, str):
        return task
    try:
        name, inline = parse_inline(action)
    except ValueError as exc:
        raise DefinitionError("%s: cannot parse %s %r: %s" % (where, action_key, action, exc)) from None
    if name == "st2.callback":
        raise DefinitionError("%s: st2.callback is not supported; call StackStorm actions by ref." % where)
    if name == ST2_PROXY_ACTION:
        return _defer_proxy_parameters(task, where)
    is_st2, meta = classifier.st2_meta(name)
    if not is_st2:
        return task
    given = task.get(input_key)
    if given is None:
        params: Any = dict(inline)
    elif isinstance(given, dict):
        params = dict(inline)
        params.update(given)
    elif inline:
        raise DefinitionError("%s: %s %r mixes inline parameters with an %s expression."
                              % (where, action_key, action, input_key))
    else:
        params = given
    if isinstance(params, dict):
        check_parameters(name, meta, params, where)
        params = kv_templates.defer_parameters(params, name, where)
    new = dict(task)
    new[action_key] = ST2_PROXY_ACTION
    new[input_key] = {"ref": name, "parameters": params}
    return new


def _defer_proxy_parameters(task: Dict[str, Any], where: str) -> Dict[str, Any]:
    """A task written as `st2.action` itself: its st2kv Jinja is left for StackStorm too."""
    given = task.get("input")
    if not isinstance(given, dict) or not isinstance(given.get("parameters"), dict):
        return task
    new = dict(task)
    new["input"] = dict(given, parameters=kv_templates.defer_parameters(
        given["parameters"], str(given.get("ref")), where))
    return new


def transform(spec: Dict[str, Any], lookup: Optional[ActionLookup] = None,
              mistral_actions: Optional[MistralActions] = None, path: str = "<definition>") -> Dict[str, Any]:
    """A copy of `spec` whose StackStorm action tasks, and workbook ad-hoc actions whose `base:` is
    a StackStorm action, call `st2.action` with {ref, parameters} (as StackStorm's runner did)."""
    out = copy.deepcopy(spec)
    wfs = workflows_of(out, path)
    adhoc: Dict[str, Any] = (out.get("actions") if is_workbook(out) else None) or {}
    if not (isinstance(adhoc, dict) and all(isinstance(a, dict) for a in adhoc.values())):
        raise DefinitionError('Workbook "%s": actions must be a mapping of ad-hoc action names to '
                              "mappings." % path)
    local: Set[str] = set(wfs) | set(adhoc)
    if is_workbook(out):
        local |= {"%s.%s" % (out.get("name"), w) for w in local}
    classifier = _Classifier(lookup, mistral_actions, local)
    for a_name in list(adhoc):
        adhoc[a_name] = _transform_task(adhoc[a_name], 'Ad-hoc action "%s"' % a_name, classifier,
                                        action_key="base", input_key="base-input")
    for wf_name, body in wfs.items():
        tasks = body.get("tasks") or {}
        for tname in list(tasks):
            where = 'Task "%s" of workflow "%s"' % (tname, wf_name)
            tasks[tname] = _transform_task(tasks[tname], where, classifier)
    return out


def dump(spec: Dict[str, Any]) -> str:
    """YAML text of a definition as uploaded to Mistral: block style, key order kept, no aliases."""
    return yaml.dump(spec, Dumper=_Dumper, default_flow_style=False, sort_keys=False)


_PARSED_MAX = 256
_parsed_cache: Dict[Tuple[str, int, int, int], Dict[str, Any]] = {}
_parsed_lock = threading.Lock()


def _parsed(path: str) -> Dict[str, Any]:
    """read_definition(path), parsed again only when the file (inode, mtime, size) changed (a YAML
    parse is a third of a start's own work). Shared: read it, never change it (transform copies)."""
    try:
        st = os.stat(path)
    except OSError:
        return read_definition(path)  # its error names the problem
    key = (path, st.st_ino, st.st_mtime_ns, st.st_size)
    with _parsed_lock:
        spec = _parsed_cache.get(key)
    if spec is None:
        spec = read_definition(path)
        with _parsed_lock:
            if len(_parsed_cache) >= _PARSED_MAX:
                _parsed_cache.clear()
            _parsed_cache[key] = spec
    return spec


def prepare(path: str, action_ref: str, workflow_param: Optional[str] = None,
            lookup: Optional[ActionLookup] = None,
            mistral_actions: Optional[MistralActions] = None) -> PreparedDefinition:
    """Read, check names of, and transform the definition in `path` for action `action_ref`."""
    spec = _parsed(path)
    kind, wf_name = resolve_names(spec, action_ref, workflow_param, path)
    # workflow_spec.add_resume_hooks: lets `re-run --next` complete a failed task as SKIPPED with
    # user-supplied published variables (docs/architecture.md, "Re-run and resume").
    final = workflow_spec.add_resume_hooks(transform(spec, lookup, mistral_actions, path))
    text = dump(final)
    return PreparedDefinition(kind=kind, name=action_ref, workflow_name=wf_name, text=text)


# -- upload ----------------------------------------------------------------------------------------

_uploaded: Dict[Tuple[str, str], str] = {}
_uploaded_lock = threading.Lock()
_sync_locks: Dict[Tuple[str, str], threading.Lock] = {}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def forget_upload(api: Any, name: str) -> None:
    """Drop the memory of having uploaded `name` (e.g. it was deleted in Mistral)."""
    with _uploaded_lock:
        _uploaded.pop((api.url, name), None)


def sync(api: Any, prepared: PreparedDefinition) -> bool:
    """Make Mistral hold `prepared` (create, update or swap workflow<->workbook); True if it changed."""
    key = (api.url, prepared.name)
    digest = _digest(prepared.text)
    with _uploaded_lock:
        if _uploaded.get(key) == digest:
            return False
        name_lock = _sync_locks.setdefault(key, threading.Lock())
    with name_lock:  # concurrent starts of one workflow: one upload, never a 409 "Duplicate entry"
        with _uploaded_lock:
            if _uploaded.get(key) == digest:
                return False
        changed = _sync_one(api, prepared)
        with _uploaded_lock:
            _uploaded[key] = digest
    return changed


def _sync_one(api: Any, p: PreparedDefinition) -> bool:
    """Create or update the workbook or workflow `p` in Mistral; True if it changed."""
    if p.kind == "workbook":
        get, create, update, delete_other = (api.get_workbook, api.create_workbook, api.update_workbook,
                                             api.delete_workflow)
    else:
        get, create, update, delete_other = (api.get_workflow, api.create_workflow, api.update_workflow,
                                             api.delete_workbook)
    try:
        current = get(p.name)
    except WorkflowNotFoundError:
        _delete_quietly(delete_other, p.name)  # it may have been the other kind before
        try:
            create(p.text)
        except MistralAPIError as exc:
            if exc.status_code != 409:
                raise
            update(p.text)  # another process created it meanwhile
        return True
    if current.get("definition") == p.text:
        return False
    update(p.text)
    return True


def _delete_quietly(delete: Callable[[str], None], name: str) -> None:
    try:
        delete(name)
    except WorkflowNotFoundError:
        pass

