"""The REST API (StackStorm's /api/v1 and /auth/v1 subset) as a Flask app over a Host."""
from __future__ import annotations

import base64
import logging
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, cast

from flask import Flask, Response, g, jsonify, request

from mistral_v2.exceptions import (
    ConfigurationError,
    InvalidParametersError,
    MistralUnreachableError,
    St2MistralError,
)
from mistral_v2.statuses import St2
from st2mistral_local import aliases, extensions, rules, transitions, views
from st2mistral_local.auth import AccessDeniedError, AuthenticationError
from st2mistral_local.container import NotFoundError, public_action
from st2mistral_local.host import Host
from st2mistral_local.runners import runner_types

LOG = logging.getLogger(__name__)

API = "/api/v1"
AUTH = "/auth/v1"
DEFAULT_LIMIT = 50
# Statuses a late push of "running" must not overwrite without asking Mistral first.
STALE_IF_RUNNING = frozenset({St2.PAUSING, St2.PAUSED, St2.CANCELING})
MAX_LIMIT = 1000
# Largest request body accepted (bytes); ST2MISTRAL_MAX_BODY_BYTES overrides. Mistral's pushes carry
# results truncated to [mistral] max_result_size (1 MiB by default), hence the headroom.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


def max_body_bytes() -> int:
    """The request body limit: $ST2MISTRAL_MAX_BODY_BYTES or DEFAULT_MAX_BODY_BYTES."""
    raw = os.environ.get("ST2MISTRAL_MAX_BODY_BYTES")
    try:
        return int(raw) if raw else DEFAULT_MAX_BODY_BYTES
    except ValueError:
        raise ConfigurationError("ST2MISTRAL_MAX_BODY_BYTES must be an integer, got %r" % raw) from None


class PrefixMiddleware:
    """Accept st2's URL styles: /api/v1/x, /v1/x, /x (API) and /auth/v1/tokens, /auth/tokens,
    /tokens (auth); trailing slashes are ignored as st2client sometimes sends them."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    @staticmethod
    def normalize(path: str) -> str:
        """The canonical path the Flask routes use."""
        if len(path) > 1:
            path = path.rstrip("/") or "/"
        if path.startswith(API) or path.startswith(AUTH) or path == "/":
            return path
        if path.startswith("/auth/"):
            return AUTH + path[len("/auth"):]
        if path.startswith("/v1/"):
            path = path[len("/v1"):]
        if path == "/tokens" or path.startswith("/tokens/"):
            return AUTH + path
        return API + path

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ["PATH_INFO"] = self.normalize(environ.get("PATH_INFO") or "/")
        return self.app(environ, start_response)


def _fault(message: str, status: int) -> Response:
    resp = jsonify({"faultstring": message})
    resp.status_code = status
    return resp


def _status_for(exc: St2MistralError) -> int:
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, AccessDeniedError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, MistralUnreachableError):
        return 503
    if isinstance(exc, ConfigurationError):
        return 500
    return 400


def _bool_arg(name: str) -> bool:
    return (request.args.get(name) or "").lower() in ("1", "true", "yes")


def _int_arg(name: str, default: Optional[int]) -> Optional[int]:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidParametersError('Query parameter "%s" must be an integer, got "%s".' % (name, raw)) from None


def _list_arg(name: str) -> Optional[List[str]]:
    raw = request.args.get(name)
    return [p.strip() for p in raw.split(",") if p.strip()] if raw else None


def _json_body() -> Dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None and request.get_data():
        raise InvalidParametersError("The request body is not valid JSON.")
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidParametersError("The request body must be a JSON object.")
    return body


def _paged(items: List[Any], total: int) -> Response:
    resp = jsonify(items)
    resp.headers["X-Total-Count"] = str(total)
    return resp


def _limit() -> Tuple[Optional[int], int]:
    limit = _int_arg("limit", DEFAULT_LIMIT)
    offset = _int_arg("offset", 0) or 0
    if limit is not None and limit < 0:
        limit = None
    elif limit is not None:
        limit = min(limit, MAX_LIMIT)
    return limit, offset


def create_app(host: Host) -> Flask:
    """The Flask application serving `host`."""
    app = Flask("st2mistral_local")
    app.url_map.strict_slashes = False
    limit = max_body_bytes()
    app.config["MAX_CONTENT_LENGTH"] = limit
    app.wsgi_app = PrefixMiddleware(app.wsgi_app)  # type: ignore[method-assign]

    @app.errorhandler(St2MistralError)
    def _st2_error(exc: St2MistralError) -> Response:
        return _fault(str(exc), _status_for(exc))

    @app.errorhandler(404)
    def _not_found(exc: Exception) -> Response:
        return _fault("The resource %s %s could not be found." % (request.method, request.path), 404)

    @app.errorhandler(405)
    def _not_allowed(exc: Exception) -> Response:
        return _fault("Method %s is not allowed on %s." % (request.method, request.path), 405)

    @app.errorhandler(413)
    def _too_large(exc: Exception) -> Response:
        size = request.content_length
        return _fault("Request body too large: %s bytes; the limit is %d bytes (ST2MISTRAL_MAX_BODY_BYTES)."
                      % (size if size is not None else "more than %d" % limit, limit), 413)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        LOG.exception("unexpected error serving %s %s", request.method, request.path)
        return _fault("Internal Server Error: %s" % type(exc).__name__, 500)

    @app.before_request
    def _authenticate() -> Optional[Response]:
        if request.content_length is not None and request.content_length > limit:
            return _too_large(Exception())
        if request.path in ("/", AUTH + "/tokens"):
            return None
        g.user = host.auth.user_for_request(cast(Mapping[str, str], request.headers), request.args)
        return None

    # ---- misc / auth ---------------------------------------------------------------------
    @app.get("/")
    def root() -> Response:
        return jsonify({"version": "3.9.0", "docs_url": "https://docs.stackstorm.com/", "host": "st2mistral-local"})

    @app.post(AUTH + "/tokens")
    def create_token() -> Response:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            raise AuthenticationError("Unauthorized - Authorization header (basic auth) is required.")
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeError):
            raise AuthenticationError("Unauthorized - The basic auth header is malformed.") from None
        if not host.auth.check_password(user, password):
            LOG.info("refused token for user %s: invalid credentials", user)
            raise AuthenticationError("Unauthorized - Invalid username or password.")
        ttl = _json_body().get("ttl")
        token = host.auth.issue_token(user, ttl)
        resp = jsonify(token)
        resp.status_code = 201
        return resp

    def _apikey_view(k: Dict[str, Any]) -> Dict[str, Any]:
        return {"id": k["id"], "uid": "api_key:%s" % k["key_hash"], "user": k["username"],
                "key_hash": k["key_hash"], "created_at": k["created_at"], "enabled": k["enabled"], "metadata": {}}

    @app.post(API + "/apikeys")
    def create_apikey() -> Response:
        body = _json_body()
        resp = jsonify(host.auth.create_apikey(host.auth.act_as(g.user, body.get("user"))))
        resp.status_code = 201
        return resp

    @app.get(API + "/apikeys")
    def list_apikeys() -> Response:
        """Admins see every key (or `?user=`'s); a user sees their own only."""
        wanted = request.args.get("user")
        if wanted:
            host.auth.act_as(g.user, wanted, '"user" query parameter')
        elif not host.auth.is_admin(g.user):
            wanted = g.user
        keys = [_apikey_view(k) for k in host.store.list_apikeys() if wanted in (None, k["username"])]
        return _paged(keys, len(keys))

    def _own_apikey(key_id: str) -> Dict[str, Any]:
        found = next((k for k in host.store.list_apikeys() if key_id in (k["id"], k["key_hash"])), None)
        if found is None or (found["username"] != g.user and not host.auth.is_admin(g.user)):
            raise NotFoundError('ApiKey with id "%s" not found.' % key_id)  # others' keys are not shown
        return found

    def _acting_body(body: Dict[str, Any]) -> Dict[str, Any]:
        """An execution request with the user it runs as settled (StackStorm's rules): `user` only
        for admins; `context.user` is never believed, it becomes that user."""
        user = host.auth.act_as(g.user, body.get("user"))
        context = body.get("context")
        if isinstance(context, dict) and context.get("user") not in (None, user):
            LOG.info("execution request by %s: context.user %r replaced by %r", g.user, context["user"], user)
        if isinstance(context, dict):
            body["context"] = dict(context, user=user)
        return dict(body, user=user)

    def _kv_user() -> Optional[str]:
        """`?user=`: another user's scope, for admins only (StackStorm's rule)."""
        wanted = request.args.get("user")
        return host.auth.act_as(g.user, wanted, '"user" query parameter') if wanted else None

    @app.get(API + "/apikeys/<key_id>")
    def get_apikey(key_id: str) -> Response:
        return jsonify(_apikey_view(_own_apikey(key_id)))

    @app.delete(API + "/apikeys/<key_id>")
    def delete_apikey(key_id: str) -> Response:
        host.store.delete_apikey(_own_apikey(key_id)["id"])
        return Response(status=204)

    # ---- actions and runners -------------------------------------------------------------
    @app.get(API + "/actions")
    def list_actions() -> Response:
        actions = [public_action(a) for a in host.store.list_actions(pack=request.args.get("pack"))]
        name = request.args.get("name")
        if name:
            actions = [a for a in actions if a["name"] == name]
        limit, offset = _limit()
        page = actions[offset:(offset + limit) if limit is not None else None]
        include = _list_arg("include_attributes")
        exclude = _list_arg("exclude_attributes")
        return _paged([views.filter_attributes(a, include, exclude) for a in page], len(actions))

    @app.get(API + "/actions/views/entry_point/<ref>")
    def action_entry_point(ref: str) -> Response:
        action = host.store.get_action(ref)
        if action is None:
            raise NotFoundError('Action "%s" cannot be found.' % ref)
        if not action.get("entry_point") or not action.get("_pack_dir"):
            return Response("", mimetype="text/plain")
        path = os.path.join(action["_pack_dir"], "actions", action["entry_point"])
        with open(path) as fh:
            return Response(fh.read(), mimetype="text/plain")

    @app.get(API + "/actions/<ref_or_id>")
    def get_action(ref_or_id: str) -> Response:
        action = host.store.get_action(ref_or_id)
        if action is None:
            raise NotFoundError('Action "%s" cannot be found.' % ref_or_id)
        return jsonify(public_action(action))

    @app.get(API + "/runnertypes")
    def list_runnertypes() -> Response:
        types = [views.runner_type(m) for _, m in sorted(runner_types().items())]
        name = request.args.get("name")
        if name:
            types = [t for t in types if t["name"] == name]
        return _paged(types, len(types))

    @app.get(API + "/runnertypes/<name>")
    def get_runnertype(name: str) -> Response:
        meta = runner_types().get(name)
        if meta is None:
            raise NotFoundError('Runner type "%s" cannot be found.' % name)
        return jsonify(views.runner_type(meta))

    # ---- executions ----------------------------------------------------------------------
    def _view(doc: Dict[str, Any]) -> Dict[str, Any]:
        return views.execution(host.store, doc, _list_arg("include_attributes"), _list_arg("exclude_attributes"))

    @app.get(API + "/executions")
    def list_executions() -> Response:
        status = request.args.get("status")
        if status and status not in transitions.ALL_STATUSES:
            raise InvalidParametersError('Unknown status "%s"; expected one of: %s' % (
                status, ", ".join(sorted(transitions.ALL_STATUSES))))
        limit, offset = _limit()
        docs, total = host.store.list_executions(
            action=request.args.get("action"), status=status, parent=request.args.get("parent"),
            user=request.args.get("user"), ascending=_bool_arg("sort_asc"), limit=limit, offset=offset)
        return _paged([_view(d) for d in docs], total)

    @app.post(API + "/executions")
    def create_execution() -> Response:
        doc, created = host.container.create(_acting_body(_json_body()), g.user)
        resp = jsonify(_view(doc))
        resp.status_code = 201 if created else 200
        return resp

    @app.get(API + "/executions/<execution_id>")
    def get_execution(execution_id: str) -> Response:
        return jsonify(_view(host.container.get(execution_id)))

    @app.get(API + "/executions/<execution_id>/result")
    def get_execution_result(execution_id: str) -> Response:
        return jsonify(views.execution(host.store, host.container.get(execution_id))["result"])

    @app.get(API + "/executions/<execution_id>/output")
    def get_execution_output(execution_id: str) -> Response:
        result = views.execution(host.store, host.container.get(execution_id))["result"] or {}
        text = ""
        if isinstance(result, dict):
            text = "".join(str(result.get(k) or "") for k in ("stdout", "stderr"))
        return Response(text, mimetype="text/plain")

    @app.put(API + "/executions/<execution_id>")
    def update_execution(execution_id: str) -> Response:
        body = _json_body()
        status = body.get("status")
        if not isinstance(status, str):
            raise InvalidParametersError('"status" is required.')
        if "result" not in body and status == St2.PAUSING:
            doc = host.container.pause(execution_id)
        elif "result" not in body and status == St2.RESUMING:
            doc = host.container.resume(execution_id)
        elif "result" not in body and status == St2.CANCELING:
            doc = host.container.cancel(execution_id)
        else:
            if status not in transitions.ALL_STATUSES:
                raise InvalidParametersError('Unknown status "%s"; expected one of: %s' % (
                    status, ", ".join(sorted(transitions.ALL_STATUSES))))
            result = body.get("result")
            arrived = time.monotonic()
            if host.container.is_busy(execution_id):
                # A pause/resume/cancel is being applied; its outcome (then the next push or
                # reconcile round) sets the status, not a push computed before it.
                LOG.info("push for %s (%s) ignored while an operation is applied", execution_id, status)
                return jsonify(_view(host.container.get(execution_id)))
            if status == St2.RUNNING and host.container.get(execution_id)["status"] in STALE_IF_RUNNING:
                # A push is computed when Mistral's event is handled and may arrive after a pause or
                # cancel went through: moving back to running is only believed when Mistral says so.
                status, result = host.reconciler.fresh(execution_id) or (status, result)
            status = host.container.settle_status(execution_id, status)
            if result is not None:
                # The plugin masks before pushing; a push from an older plugin (or another
                # publisher) is masked again here: secrets are never stored in clear.
                result = views.masker(host.store, host.container.get(execution_id))(result)
            # An operation starting meanwhile (or ended since the push arrived) outdates the push:
            # asked again atomically with the change; the next push or reconcile round sets it.
            doc, changed = host.container.update(
                execution_id, status, result=result,
                unless=lambda: host.container.is_busy(execution_id, since=arrived))
            if not changed:
                LOG.info("push for %s (%s) ignored; execution is %s", execution_id, status, doc["status"])
        return jsonify(_view(doc))

    @app.delete(API + "/executions/<execution_id>")
    def cancel_execution(execution_id: str) -> Response:
        return jsonify(_view(host.container.cancel(execution_id)))

    @app.post(API + "/executions/<execution_id>/re_run")
    def rerun_execution(execution_id: str) -> Response:
        doc = host.container.rerun(execution_id, _acting_body(_json_body()), g.user)
        resp = jsonify(_view(doc))
        resp.status_code = 201
        return resp

    @app.get(API + "/executions/<execution_id>/children")
    def execution_children(execution_id: str) -> Response:
        host.container.get(execution_id)
        depth = _int_arg("depth", -1)
        out: List[Dict[str, Any]] = []

        def walk(parent: str, level: int) -> None:
            for child_id in host.store.child_ids(parent):
                child = host.store.get_execution(child_id)
                if child is None:
                    continue
                out.append(_view(child))
                if depth is None or depth < 0 or level < depth:
                    walk(child_id, level + 1)

        walk(execution_id, 1)
        return jsonify(out)

    # ---- keys ----------------------------------------------------------------------------
    @app.get(API + "/keys")
    def list_keys() -> Response:
        docs = host.kv.list(request.args.get("scope"), _kv_user(), request.args.get("prefix"),
                            _bool_arg("decrypt"), g.user)
        limit, offset = _limit()
        return _paged(docs[offset:(offset + limit) if limit is not None else None], len(docs))

    @app.get(API + "/keys/<name>")
    def get_key(name: str) -> Response:
        doc = host.kv.get(name, request.args.get("scope"), _kv_user(), _bool_arg("decrypt"), g.user)
        if doc is None:
            raise NotFoundError('Key "%s" cannot be found.' % name)
        return jsonify(doc)

    @app.put(API + "/keys/<name>")
    def set_key(name: str) -> Response:
        body = _json_body()
        if body.get("user") not in (None, ""):
            body["user"] = host.auth.act_as(g.user, body.get("user"))
        return jsonify(host.kv.set(name, body, g.user))

    @app.delete(API + "/keys/<name>")
    def delete_key(name: str) -> Response:
        if not host.kv.delete(name, request.args.get("scope"), _kv_user(), g.user):
            raise NotFoundError('Key "%s" cannot be found.' % name)
        return Response(status=204)

    # ---- rules/webhooks, action aliases, Mistral extension endpoints (their own modules) --
    rules.register(app, host)
    aliases.register(app, host)
    extensions.register(app, host)
    return app

