"""Jinja `{{ st2kv.* }}` in StackStorm action parameters, kept raw so StackStorm (not Mistral) renders it."""
from __future__ import annotations

import re
from typing import Any, Dict

from mistral_v2.exceptions import DefinitionError

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_ST2KV = re.compile(r"(?<![\w.])st2kv\s*[.\[]")       # st2kv.system.x, not the st2kv('x') function
_LOCAL = re.compile(r"(?<![\w.])_\s*[.\[]")           # the workflow's own data: _.x, _['x']
_RAW = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}")
# Mistral renders with trim_blocks/lstrip_blocks: `{%+ endraw %}` keeps trailing blanks intact.
RAW_OPEN, RAW_CLOSE = "{% raw %}", "{%+ endraw %}"


def references_st2kv(text: str) -> bool:
    """True when a Jinja expression or statement in `text` reads StackStorm's datastore (st2kv.x)."""
    return any(_ST2KV.search(block) for block in _JINJA.findall(text))


def _defer(value: Any, ref: str, name: str, where: str) -> Any:
    if isinstance(value, dict):
        return {key: _defer(item, ref, name, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_defer(item, ref, name, where) for item in value]
    if not isinstance(value, str) or not references_st2kv(value) or _RAW.search(value):
        return value
    if any(_LOCAL.search(block) for block in _JINJA.findall(value)):
        raise DefinitionError(
            '%s: parameter "%s" of action "%s" refers to both the workflow context (_.x), which '
            "Mistral renders, and st2kv (st2kv.system.x), which StackStorm renders when the action "
            "starts; put them in separate parameters." % (where, name, ref))
    return RAW_OPEN + value + RAW_CLOSE


def defer_parameters(params: Dict[str, Any], ref: str, where: str) -> Dict[str, Any]:
    """`params` with each string whose Jinja reads st2kv.* wrapped in {% raw %} (StackStorm renders it)."""
    return {name: _defer(value, ref, name, where) for name, value in params.items()}
