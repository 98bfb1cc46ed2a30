"""Runner wiring shared by the integration tests that drive MistralRunner directly (no host)."""
from __future__ import annotations

import contextlib
import os
import types
import uuid
from typing import Any, Dict, Iterator, Optional, Tuple

import yaml
from oslo_config import cfg

from mistral_v2 import config, mistral_v2


@contextlib.contextmanager
def mistral_options(**overrides: Any) -> Iterator[None]:
    """`[mistral]` options set to `overrides` (registered first), cleared on exit."""
    config.register_opts()
    for key, value in overrides.items():
        cfg.CONF.set_override(key, value, "mistral")
    yield
    for key in overrides:
        cfg.CONF.clear_override(key, "mistral")


def action_metadata(pack_dir: str, action: str) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """(metadata, action parameter metadata, runner parameters) of <pack_dir>/actions/<action>.yaml;
    the `workflow` parameter's default moves to the runner parameters, as StackStorm merges them."""
    meta = yaml.safe_load(open(os.path.join(pack_dir, "actions", action + ".yaml")))
    params_meta = dict(meta.get("parameters") or {})
    runner_params: Dict[str, Any] = {"context": {}, "skip_notify": []}
    if "workflow" in params_meta:
        runner_params["workflow"] = params_meta.pop("workflow").get("default")
    return meta, params_meta, runner_params


def wire_runner(pack: str, action: str, meta_entry_point: str, entry_point: str, context: Dict[str, Any],
                runner_parameters: Dict[str, Any], parameters: Dict[str, Any],
                rerun_ex_ref: Optional[Any] = None) -> mistral_v2.MistralRunner:
    """A MistralRunner wired the way the host wires it (see docs/architecture.md), after pre_run()."""
    st2_id = uuid.uuid4().hex[:24]
    r = mistral_v2.get_runner()
    r.runner_type = types.SimpleNamespace(name="mistral-v2", enabled=True)
    r.runner_parameters = runner_parameters
    r.action = types.SimpleNamespace(pack=pack, name=action, ref=pack + "." + action,
                                     entry_point=meta_entry_point, parameters=parameters)
    r.liveaction = types.SimpleNamespace(id=st2_id, status="requested", context=context, parameters={},
                                         result={}, callback={})
    r.liveaction_id = r.execution_id = st2_id
    r.entry_point = entry_point
    r.context = context
    r.auth_token = types.SimpleNamespace(token="tok-" + st2_id)
    r.rerun_ex_ref = rerun_ex_ref
    r.pre_run()
    return r
