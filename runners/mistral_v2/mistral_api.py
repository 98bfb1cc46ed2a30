"""Every Mistral API call the runner makes, through python-mistralclient, with tenacity retries."""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple
from urllib.parse import urlsplit, urlunsplit

import requests
import tenacity
from mistralclient.api import base as mistral_base
from mistralclient.api import client as mistral_client

from mistral_v2 import config, retries, statuses
from mistral_v2.exceptions import (
    MistralAPIError,
    MistralUnreachableError,
    WorkflowNotFoundError,
)

LOG = logging.getLogger(__name__)

# Page size of the paginated listings (Mistral has no hard maximum; keep answers moderate).
PAGE_SIZE = 500

# Description Mistral 23 gives every sub-workflow execution.
SUBWORKFLOW_DESCRIPTION = "sub-workflow execution"

try:  # keystone sessions raise their own connection errors
    from keystoneauth1 import exceptions as _ks_exceptions

    _KS_TRANSIENT: tuple = (_ks_exceptions.ConnectionError, _ks_exceptions.RetriableConnectionFailure)
except ImportError:  # pragma: no cover - keystoneauth1 ships with python-mistralclient
    _KS_TRANSIENT = ()

_TRANSIENT_NETWORK = (requests.exceptions.ConnectionError, requests.exceptions.Timeout) + _KS_TRANSIENT


def safe_url(url: str) -> str:
    """`url` without any user:password part, fit for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = "%s:%s" % (host, parts.port)
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: connection errors, timeouts and HTTP 5xx."""
    if isinstance(exc, _TRANSIENT_NETWORK):
        return True
    if isinstance(exc, mistral_base.APIException):
        return exc.error_code is None or exc.error_code >= 500
    return False


# requests' environment settings (proxy variables, CA bundle) per host and request options, read
# once per process (a process's environment does not change from outside): requests scans
# os.environ twice per request otherwise, a fifth of the runner's own time per start.
_env_settings: Dict[Tuple[Any, ...], Dict[str, Any]] = {}
_env_settings_lock = threading.Lock()


class _TimeoutSession(requests.Session):
    """A requests session applying a default timeout to every request."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, **kwargs)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,  # type: ignore[override]
                                   cert: Any) -> Dict[str, Any]:
        """requests' own answer for this host and these options, computed once (see above)."""
        def frozen(value: Any) -> Any:
            return tuple(sorted(value.items())) if isinstance(value, dict) else value

        key = (urlsplit(url)[:2], frozen(proxies), stream, verify, cert, self.trust_env,
               frozen(self.proxies), self.stream, self.verify, self.cert)
        with _env_settings_lock:
            found = _env_settings.get(key)
        if found is None:
            found = dict(super().merge_environment_settings(url, dict(proxies or {}), stream, verify, cert))
            with _env_settings_lock:
                _env_settings[key] = found
        return dict(found, proxies=dict(found["proxies"] or {}))


# One HTTP connection pool for every MistralAPI of the process: a client carrying one execution's
# own token (a new MistralAPI per start) reuses the kept-alive connections of the others instead of
# opening a TCP connection per start (a new connection cost Mistral's API about 20 % of a start).
# urllib3's pools are thread-safe; the token stays in each client's own session headers.
POOL_MAXSIZE = 64
_pool: Optional[requests.adapters.HTTPAdapter] = None
_pool_lock = threading.Lock()


def connection_pool() -> requests.adapters.HTTPAdapter:
    """The process-wide HTTP adapter (keep-alive connection pools per Mistral host)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = requests.adapters.HTTPAdapter(pool_maxsize=POOL_MAXSIZE)
        return _pool


def _to_dict(resource: Any) -> Dict[str, Any]:
    return resource.to_dict() if hasattr(resource, "to_dict") else dict(resource)


class MistralAPI:
    """Thin, retrying facade over python-mistralclient; every method returns plain dicts."""

    def __init__(
        self,
        url: Optional[str] = None,
        conf: Any = None,
        transport: Optional[requests.adapters.BaseAdapter] = None,
        sleep: Callable[[float], None] = time.sleep,
        auth_token: Optional[str] = None,
    ) -> None:
        self.opts = conf if conf is not None else config.get()
        self._auth_token = auth_token
        self.url = (url or self.opts.v2_base_url).rstrip("/")
        self._transport = transport  # tests mount a fake HTTP adapter here
        self._sleep = sleep
        self._client: Any = None
        self._action_names: Optional[Set[str]] = None

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The python-mistralclient client, built on first use."""
        if self._client is None:
            kwargs: Dict[str, Any] = {"mistral_url": self.url}
            if self.opts.keystone_auth_url:
                kwargs.update(
                    username=self.opts.keystone_username,
                    api_key=self.opts.keystone_password,
                    project_name=self.opts.keystone_project_name,
                    auth_url=self.opts.keystone_auth_url,
                )
            else:
                session = _TimeoutSession(self.opts.request_timeout)
                adapter = self._transport if self._transport is not None else connection_pool()
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                session.headers.update(self.credential_headers())
                kwargs["session"] = session
            kwargs.update(cacert=self.opts.cacert, insecure=self.opts.insecure)
            self._client = self.call("authentication", mistral_client.client, **kwargs)
        return self._client

    def credential_headers(self) -> Dict[str, str]:
        """StackStorm credentials for a Mistral that authenticates with StackStorm: the given
        token, else `[mistral] api_key`; none when neither is set."""
        if self._auth_token:
            return {"X-Auth-Token": self._auth_token}
        api_key = getattr(self.opts, "api_key", None)
        return {"St2-Api-Key": api_key} if api_key else {}

    def _retrying(self) -> tenacity.Retrying:
        return retries.from_options(self.opts, is_transient, sleep=self._sleep)

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn` with retries; translate failures into mistral_v2 exceptions naming `what`."""
        try:
            return self._retrying()(fn, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - translated below, never swallowed
            raise self._translate(what, exc) from exc

    def _translate(self, what: str, exc: BaseException) -> Exception:
        if is_transient(exc):
            detail = ("HTTP %s" % exc.error_code if isinstance(exc, mistral_base.APIException)
                      else type(exc).__name__)
            return MistralUnreachableError(
                "Mistral unreachable at %s while trying to %s (%s; %s)."
                % (safe_url(self.url), what, detail, retries.describe_limits(self.opts)))
        if isinstance(exc, mistral_base.APIException):
            message = exc.error_message or "no details"
            if exc.error_code == 404:
                return WorkflowNotFoundError("Mistral: %s failed, not found: %s" % (what, message), 404)
            return MistralAPIError(
                "Mistral rejected the request to %s (HTTP %s): %s" % (what, exc.error_code, message),
                exc.error_code)
        if isinstance(exc, (MistralAPIError, MistralUnreachableError)):
            return exc
        return MistralAPIError("Mistral call to %s failed: %s: %s" % (what, type(exc).__name__, exc))

    def _request(self, what: str, method: str, path: str, body: Dict[str, Any], ok_status: int) -> Dict[str, Any]:
        """The one raw request: for the two calls python-mistralclient has no public method for
        (starting an execution with a given id, skipping a task).  It goes through the client's
        own HTTP client (same session, authentication, TLS options and timeout) and fails the way
        mistralclient's own calls do (APIException with Mistral's message), so `call` retries and
        translates it like any other call."""
        http = self.client.executions.http_client

        def once() -> Dict[str, Any]:
            try:
                resp = getattr(http, method)(path, json.dumps(body))
            except Exception as exc:  # keystone sessions raise HttpError for 4xx/5xx answers
                resp = getattr(exc, "response", None)
                if resp is None:
                    raise
            if resp.status_code != ok_status:
                try:
                    message = resp.headers.get("Server-Error-Message") or resp.json().get("faultstring")
                except ValueError:
                    message = resp.text
                raise mistral_base.APIException(error_code=resp.status_code, error_message=message)
            return resp.json()

        return self.call(what, once)

    def _list_all(self, what: str, lister: Callable[..., List[Any]], **filters: Any) -> List[Dict[str, Any]]:
        """Every item of a paginated listing, as dicts (one call per PAGE_SIZE items)."""
        items: List[Dict[str, Any]] = []
        marker = ""
        while True:
            page = self.call(what, lister, marker=marker, limit=PAGE_SIZE, **filters)
            items.extend(_to_dict(r) for r in page)
            if len(page) < PAGE_SIZE:
                return items
            marker = page[-1].id

    # -- workflows and workbooks -----------------------------------------------------------------

    def get_workflow(self, name: str) -> Dict[str, Any]:
        return _to_dict(self.call('get workflow "%s"' % name, self.client.workflows.get, name))

    def create_workflow(self, definition: str) -> List[Dict[str, Any]]:
        res = self.call("create workflow", self.client.workflows.create, definition)
        return [_to_dict(r) for r in res]

    def update_workflow(self, definition: str) -> List[Dict[str, Any]]:
        res = self.call("update workflow", self.client.workflows.update, definition)
        return [_to_dict(r) for r in res]

    def delete_workflow(self, name: str) -> None:
        self.call('delete workflow "%s"' % name, self.client.workflows.delete, name)

    def get_workbook(self, name: str) -> Dict[str, Any]:
        return _to_dict(self.call('get workbook "%s"' % name, self.client.workbooks.get, name))

    def create_workbook(self, definition: str) -> Dict[str, Any]:
        return _to_dict(self.call("create workbook", self.client.workbooks.create, definition))

    def update_workbook(self, definition: str) -> Dict[str, Any]:
        return _to_dict(self.call("update workbook", self.client.workbooks.update, definition))

    def delete_workbook(self, name: str) -> None:
        self.call('delete workbook "%s"' % name, self.client.workbooks.delete, name)

    def action_names(self) -> Set[str]:
        """Names of the actions Mistral knows (cached for the life of this object)."""
        if self._action_names is None:
            actions = self.call("list actions", self.client.actions.list)
            self._action_names = {a.name for a in actions}
        return self._action_names

    # -- workflow executions -----------------------------------------------------------------------

    def find_executions_by_description(self, descriptions: Iterable[str]) -> List[Dict[str, Any]]:
        """Executions whose description is one of `descriptions` (one listing call per page)."""
        wanted = [d for d in descriptions if d]
        if not wanted:
            return []
        flt = "in:" + ",".join(wanted) if len(wanted) > 1 else wanted[0]
        return self._list_all("list executions", self.client.executions.list,
                              description=flt, include_output=True)

    def create_execution(
        self,
        workflow_name: str,
        workflow_input: Dict[str, Any],
        description: str,
        execution_id: Optional[str] = None,
        **params: Any,
    ) -> Dict[str, Any]:
        """Start `workflow_name`. With `execution_id` (a UUID) the start is idempotent: Mistral
        returns the existing execution of that id instead of starting another, so a retried
        POST (e.g. after a timeout) never duplicates."""
        data: Dict[str, Any] = {"workflow_name": workflow_name, "description": description,
                                "input": json.dumps(workflow_input or {})}
        if execution_id:
            data["id"] = execution_id
        if params:
            data["params"] = json.dumps(params)
        # python-mistralclient's create() cannot send "id": the one raw request does the POST.
        return self._request('start workflow "%s"' % workflow_name, "post", "/executions", data, 201)

    def get_execution(self, execution_id: str) -> Dict[str, Any]:
        return _to_dict(self.call("get execution %s" % execution_id,
                                  self.client.executions.get, execution_id))

    def update_execution(
        self, execution_id: str, state: Optional[str] = None, env: Optional[Dict[str, Any]] = None
    ) -> Dict[str, Any]:
        what = "set execution %s to %s" % (execution_id, state) if state else \
            "update the env of execution %s" % execution_id
        return _to_dict(self.call(what, self.client.executions.update, execution_id, state, env=env))

    def list_executions(self, **filters: Any) -> List[Dict[str, Any]]:
        return self._list_all("list executions", self.client.executions.list, **filters)

    def list_subexecutions(self, since: str) -> List[Dict[str, Any]]:
        """Sub-workflow executions created at or after `since` ("YYYY-MM-DD HH:MM:SS")."""
        return self._list_all("list sub-workflow executions", self.client.executions.list,
                              description=SUBWORKFLOW_DESCRIPTION, created_at="gte:" + since,
                              include_output=True)

    # -- tasks ---------------------------------------------------------------------------------------

    def list_tasks(self, workflow_execution_id: Optional[str] = None, **filters: Any) -> List[Dict[str, Any]]:
        what = "list tasks of execution %s" % workflow_execution_id if workflow_execution_id else "list tasks"
        lister = self.client.tasks.list
        if workflow_execution_id:
            return self._list_all(what, lambda **kw: lister(workflow_execution_id, **kw), **filters)
        return self._list_all(what, lister, **filters)

    def list_tasks_of_workflows(self, workflow_names: Iterable[str], since: str) -> List[Dict[str, Any]]:
        """Tasks of the named workflows created at or after `since` (one call per page)."""
        names = sorted(set(workflow_names))
        if not names:
            return []
        return self._list_all("list tasks", self.client.tasks.list,
                              workflow_name="in:" + ",".join(names), created_at="gte:" + since)

    def get_task(self, task_id: str) -> Dict[str, Any]:
        return _to_dict(self.call("get task %s" % task_id, self.client.tasks.get, task_id))

    def rerun_task(self, task_id: str, reset: bool = True, env: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        return _to_dict(self.call("re-run task %s" % task_id, self.client.tasks.rerun,
                                  task_id, reset=reset, env=env))

    def skip_task(self, task_id: str, env: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """PUT /v2/tasks/<id> {state: SKIPPED}: Mistral 16+ completes the failed task as SKIPPED
        (python-mistralclient has no call for it: the one raw request)."""
        body: Dict[str, Any] = {"id": task_id, "state": statuses.SKIPPED}
        if env:
            body["env"] = json.dumps(env)
        return self._request("skip task %s" % task_id, "put", "/tasks/%s" % task_id, body, 200)

    # -- action executions ---------------------------------------------------------------------------

    def list_action_executions_of_workflows(
        self, workflow_names: Iterable[str], since: str
    ) -> List[Dict[str, Any]]:
        """Action executions (with input and output) of the named workflows since `since`."""
        names = sorted(set(workflow_names))
        if not names:
            return []
        return self._list_all("list action executions", self.client.action_executions.list,
                              workflow_name="in:" + ",".join(names), created_at="gte:" + since,
                              include_output=True)

    def list_task_action_executions(self, task_id: str) -> List[Dict[str, Any]]:
        """Action executions of one task (oldest first)."""
        found = self.call("list action executions of task %s" % task_id,
                          self.client.action_executions.list, task_id)
        return [_to_dict(a) for a in found]

    def get_action_execution(self, action_execution_id: str) -> Dict[str, Any]:
        return _to_dict(self.call("get action execution %s" % action_execution_id,
                                  self.client.action_executions.get, action_execution_id))

    def update_action_execution(
        self, action_execution_id: str, state: str, output: Any = None
    ) -> Dict[str, Any]:
        return _to_dict(self.call("update action execution %s" % action_execution_id,
                                  self.client.action_executions.update,
                                  action_execution_id, state=state, output=output))

    def complete_action_execution(self, action_execution_id: str, state: str, output: Any = None) -> bool:
        """PUT a final `state` and `output` to an action execution, once: True when this call
        completed it, False when Mistral already had a final state (a retried or concurrent
        delivery). One PUT on the happy path; only a PUT that fails reads the action execution
        back (Mistral 23 answers a PUT to a completed action execution with HTTP 500 "Action ...
        is already completed" and changes nothing), so a retried PUT that had in fact arrived is
        recognised instead of retried until the limits run out."""
        actions = self.client.action_executions

        def once() -> bool:
            try:
                actions.update(action_execution_id, state=state, output=output)
                return True
            except mistral_base.APIException as exc:
                try:
                    current = actions.get(action_execution_id)
                except Exception:  # noqa: BLE001 - the PUT's own failure is the one to report
                    raise exc from None
                if getattr(current, "state", None) in statuses.MISTRAL_TERMINAL_STATES:
                    return False
                raise

        return bool(self.call("complete action execution %s" % action_execution_id, once))


_shared: Dict[Tuple[str, Optional[str]], MistralAPI] = {}
_shared_lock = threading.Lock()


def shared(url: Optional[str] = None) -> MistralAPI:
    """One MistralAPI (and HTTP connection pool) per Mistral URL for the whole process."""
    opts = config.get()
    base = (url or opts.v2_base_url).rstrip("/")
    key = (base, opts.api_key)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = MistralAPI(url=base, conf=opts)
        return _shared[key]
