"""The one place that imports StackStorm's st2common; a same-shaped fallback when it is absent.

The fallback mirrors st2common 3.9 (st2common/runners/base.py, st2common/constants/action.py):
class names, constructor and method signatures and the (status, result, context) return
convention are the same, so the runner code is identical inside and outside StackStorm.
"""
from __future__ import annotations

import abc
import contextlib
import importlib
import logging
import os
import re
from typing import Any, Dict, Iterator, List, Optional, Tuple

import yaml
from oslo_config import cfg

try:  # pragma: no cover - exercised only inside a real StackStorm install
    from st2common.constants import action as _action_constants
    from st2common.runners.base import ActionRunner, AsyncActionRunner  # noqa: F401

    ST2COMMON_AVAILABLE = True
except ImportError:
    ST2COMMON_AVAILABLE = False
    _action_constants = None

RunnerResult = Tuple[str, Dict[str, Any], Dict[str, Any]]

if _action_constants is not None:  # pragma: no cover
    LIVEACTION_STATUS_REQUESTED = _action_constants.LIVEACTION_STATUS_REQUESTED
    LIVEACTION_STATUS_DELAYED = _action_constants.LIVEACTION_STATUS_DELAYED
    LIVEACTION_STATUS_PENDING = _action_constants.LIVEACTION_STATUS_PENDING
    LIVEACTION_STATUS_SCHEDULED = _action_constants.LIVEACTION_STATUS_SCHEDULED
    LIVEACTION_STATUS_RUNNING = _action_constants.LIVEACTION_STATUS_RUNNING
    LIVEACTION_STATUS_SUCCEEDED = _action_constants.LIVEACTION_STATUS_SUCCEEDED
    LIVEACTION_STATUS_FAILED = _action_constants.LIVEACTION_STATUS_FAILED
    LIVEACTION_STATUS_TIMED_OUT = _action_constants.LIVEACTION_STATUS_TIMED_OUT
    LIVEACTION_STATUS_ABANDONED = _action_constants.LIVEACTION_STATUS_ABANDONED
    LIVEACTION_STATUS_CANCELING = _action_constants.LIVEACTION_STATUS_CANCELING
    LIVEACTION_STATUS_CANCELED = _action_constants.LIVEACTION_STATUS_CANCELED
    LIVEACTION_STATUS_PAUSING = _action_constants.LIVEACTION_STATUS_PAUSING
    LIVEACTION_STATUS_PAUSED = _action_constants.LIVEACTION_STATUS_PAUSED
    LIVEACTION_STATUS_RESUMING = _action_constants.LIVEACTION_STATUS_RESUMING
    LIVEACTION_COMPLETED_STATES: List[str] = list(_action_constants.LIVEACTION_COMPLETED_STATES)
else:
    LIVEACTION_STATUS_REQUESTED = "requested"
    LIVEACTION_STATUS_DELAYED = "delayed"
    LIVEACTION_STATUS_PENDING = "pending"
    LIVEACTION_STATUS_SCHEDULED = "scheduled"
    LIVEACTION_STATUS_RUNNING = "running"
    LIVEACTION_STATUS_SUCCEEDED = "succeeded"
    LIVEACTION_STATUS_FAILED = "failed"
    LIVEACTION_STATUS_TIMED_OUT = "timeout"
    LIVEACTION_STATUS_ABANDONED = "abandoned"
    LIVEACTION_STATUS_CANCELING = "canceling"
    LIVEACTION_STATUS_CANCELED = "canceled"
    LIVEACTION_STATUS_PAUSING = "pausing"
    LIVEACTION_STATUS_PAUSED = "paused"
    LIVEACTION_STATUS_RESUMING = "resuming"
    LIVEACTION_COMPLETED_STATES = [
        LIVEACTION_STATUS_SUCCEEDED,
        LIVEACTION_STATUS_FAILED,
        LIVEACTION_STATUS_TIMED_OUT,
        LIVEACTION_STATUS_CANCELED,
        LIVEACTION_STATUS_ABANDONED,
    ]

    class ActionRunner(abc.ABC):  # type: ignore[no-redef]
        """Same attributes and methods as st2common.runners.base.ActionRunner (st2 3.9)."""

        def __init__(self, runner_id: str) -> None:
            self.runner_id = runner_id
            self.runner_type: Any = None
            self.runner_parameters: Optional[Dict[str, Any]] = None
            self.action: Any = None
            self.action_name: Optional[str] = None
            self.liveaction: Any = None
            self.liveaction_id: Optional[str] = None
            self.execution: Any = None
            self.execution_id: Optional[str] = None
            self.entry_point: Optional[str] = None
            self.libs_dir_path: Optional[str] = None
            self.context: Optional[Dict[str, Any]] = None
            self.auth_token: Any = None
            self.rerun_ex_ref: Any = None
            self._debug: Optional[bool] = None

        def pre_run(self) -> None:
            if not getattr(self.runner_type, "enabled", True):
                name = getattr(self.runner_type, "name", "unknown")
                raise ValueError('Runner "%s" has been disabled by the administrator.' % name)
            self._debug = (self.runner_parameters or {}).get("debug", False)

        @abc.abstractmethod
        def run(self, action_parameters: Dict[str, Any]) -> RunnerResult:
            raise NotImplementedError()

        def pause(self) -> RunnerResult:
            raise NotImplementedError("Pause is not supported for runner %s." % self.runner_id)

        def resume(self) -> RunnerResult:
            raise NotImplementedError("Resume is not supported for runner %s." % self.runner_id)

        def cancel(self) -> RunnerResult:
            return (LIVEACTION_STATUS_CANCELED, self.liveaction.result, self.liveaction.context)

        def post_run(self, status: str, result: Dict[str, Any]) -> None:
            pass

        def get_pack_ref(self) -> str:
            return self.action.pack if self.action else "default"

        def get_user(self) -> str:
            return (self.context or {}).get("user", "stanley")

    class AsyncActionRunner(ActionRunner):  # type: ignore[no-redef]
        """Marker base for runners whose run() returns before the work is done."""


def get_runner_metadata(package_name: str) -> List[Dict[str, Any]]:
    """Read the package's runner.yaml, as st2common.runners.base.get_metadata does."""
    if ST2COMMON_AVAILABLE:  # pragma: no cover
        from st2common.runners.base import get_metadata

        return get_metadata(package_name)
    pkg = importlib.import_module(package_name)
    with open(os.path.join(os.path.dirname(pkg.__file__ or ""), "runner.yaml")) as fh:
        return yaml.safe_load(fh)


def get_st2_api_urls() -> Tuple[Optional[str], Optional[str]]:
    """(API URL Mistral calls back, public API URL) from StackStorm's config; (None, None) outside.

    StackStorm 3.9 has no `get_mistral_api_url` any more: both default to its public API URL
    (`[auth] api_url` + `/v1`, else `[api] host:port`); `[mistral] api_url` overrides the first.
    """
    if not ST2COMMON_AVAILABLE:
        return None, None
    from st2common.util.api import get_full_public_api_url  # pragma: no cover

    try:  # pragma: no cover
        public = get_full_public_api_url()
    except Exception:  # pragma: no cover - st2 config not loaded
        return None, None
    return public, public  # pragma: no cover


@contextlib.contextmanager
def operation_token(user: str, execution_id: Optional[str]) -> Iterator[Optional[str]]:
    """A StackStorm service token for `user`, deleted on exit; None outside StackStorm.

    StackStorm's runner container creates a token only for run() (st2actions/container/base.py
    `_create_auth_token`); pause/resume/cancel get none, yet cascading them to child executions
    goes through the REST API. This issues one the same way, for the operation only.
    """
    if not ST2COMMON_AVAILABLE:
        yield None
        return
    from st2common.services import access  # pragma: no cover

    token = access.create_token(  # pragma: no cover
        username=user, ttl=cfg.CONF.auth.service_token_ttl, service=True,
        metadata={"service": "mistral-v2 runner", "execution_id": execution_id or ""})
    try:  # pragma: no cover
        yield token.token
    finally:
        try:  # pragma: no cover
            access.delete_token(token.token)
        except Exception:  # pragma: no cover - expired or deleted: nothing left to clean
            logging.getLogger(__name__).debug("operation token of %s already gone", execution_id)


def get_st2_action_lookup() -> Optional[Any]:
    """ref -> merged runner+action parameter metadata (None if no such action), inside StackStorm."""
    if not ST2COMMON_AVAILABLE:
        return None
    from st2common.util import action_db  # pragma: no cover

    def lookup(ref: str) -> Optional[Dict[str, Any]]:  # pragma: no cover
        try:
            action = action_db.get_action_by_ref(ref)
        except Exception:
            return None
        if not action:
            return None
        runner = action_db.get_runnertype_by_name(action.runner_type["name"])
        params = dict(getattr(runner, "runner_parameters", None) or {})
        params.update(action.parameters or {})
        return params

    return lookup


def notify_settings(notify: Any) -> Dict[str, Any]:
    """A liveaction's `notify` as the plain dict Mistral's env carries ({"on-complete": {message,
    data, routes}, ...}); inside StackStorm it is a NotificationSchema model (converted by st2's
    NotificationsHelper, as StackStorm's mistral_v2 runner did)."""
    if not notify:
        return {}
    if isinstance(notify, dict):
        return notify
    if ST2COMMON_AVAILABLE:  # pragma: no cover - exercised by the st2 tier
        from st2common.models.api.notification import NotificationsHelper

        return NotificationsHelper.from_model(notify_model=notify)
    raise TypeError("notify must be a dict outside StackStorm, got %s" % type(notify).__name__)


# ---- the st2-mistral extension routes inside st2api (st2mistral_compat.routes) -------------------

# StackStorm's RBAC permission types (st2common.rbac.types.PermissionType values) the routes check.
EXECUTION_VIEW = "execution_view"
EXECUTION_RE_RUN = "execution_rerun"
_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")


def _execution_db(execution_id: str) -> Optional[Any]:
    from st2common.persistence.execution import ActionExecution  # pragma: no cover - inside st2api

    if not _OBJECT_ID.match(execution_id or ""):  # pragma: no cover
        return None
    return ActionExecution.get(id=execution_id)  # pragma: no cover


def _execution_doc(execution_db: Any, mask_secrets: bool) -> Dict[str, Any]:
    from st2common.models.api.execution import ActionExecutionAPI  # pragma: no cover - inside st2api

    return dict(vars(ActionExecutionAPI.from_model(execution_db, mask_secrets=mask_secrets)))  # pragma: no cover


class St2Executions:  # pragma: no cover - exercised by the st2 tier
    """StackStorm executions read from st2's database inside st2api, secrets unmasked (the routes
    mask what they answer): the `mistral_v2.extensions.Executions` of the compat layer's routes."""

    def get_execution(self, execution_id: str) -> Optional[Dict[str, Any]]:
        found = _execution_db(execution_id)
        return None if found is None else _execution_doc(found, mask_secrets=False)

    def child_ids(self, execution_id: str) -> List[str]:
        from st2common.persistence.execution import ActionExecution

        return [str(c.id) for c in ActionExecution.query(parent=execution_id, only_fields=["id"])]


def load_execution(execution_id: str, user: Any, permission: str) -> Dict[str, Any]:  # pragma: no cover
    """The execution (secrets unmasked) once StackStorm's RBAC lets `user` do `permission` on it
    (EXECUTION_VIEW / EXECUTION_RE_RUN); st2's not-found (404) or access-denied (403) error otherwise."""
    from st2common.exceptions.db import StackStormDBObjectNotFoundError
    from st2common.models.db.auth import UserDB
    from st2common.rbac.backends import get_rbac_backend

    found = _execution_db(execution_id)
    if found is None:
        raise StackStormDBObjectNotFoundError('Execution "%s" cannot be found.' % execution_id)
    user_db = user or UserDB(name=cfg.CONF.system_user.user)  # auth disabled: st2's controllers do the same
    get_rbac_backend().get_utils_class().assert_user_has_resource_db_permission(
        user_db=user_db, resource_db=found, permission_type=permission)
    return _execution_doc(found, mask_secrets=False)


def masked_execution(execution_id: str) -> Optional[Dict[str, Any]]:  # pragma: no cover - inside st2api
    """The execution as GET /executions/<id> shows it (secrets masked), or None."""
    found = _execution_db(execution_id)
    return None if found is None else _execution_doc(found, mask_secrets=True)


def json_response(body: Any, status: int) -> Any:  # pragma: no cover - inside st2api
    """st2api's Response carrying `body` as JSON with HTTP `status`."""
    from st2common.router import Response

    return Response(json=body, status=status)
