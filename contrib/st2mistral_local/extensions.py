"""The host's Mistral extension endpoints (/api/v1/mistral/...): Flask glue over mistral_v2.extensions."""
from __future__ import annotations

import logging
from typing import Any, Dict

from mistral_v2 import extensions as ext
from mistral_v2.exceptions import InvalidParametersError, RerunError
from mistral_v2.mistral_api import shared as shared_api
from st2mistral_local import params

LOG = logging.getLogger(__name__)

API = "/api/v1/mistral"
SERVED_BY = "st2mistral-local"


def _mistral_api() -> Any:
    return shared_api()


def _refusal(exc: RerunError, status: int = 400) -> Any:
    from flask import jsonify

    resp = jsonify(ext.refusal_body(exc))
    resp.status_code = status
    return resp


def register(app: Any, host: Any) -> None:
    """Add the /api/v1/mistral/... routes."""
    from flask import Response, g, jsonify, request

    from st2mistral_local import views

    def body() -> Dict[str, Any]:
        data = request.get_json(silent=True)
        if data is None and not request.get_data():
            return {}
        if not isinstance(data, dict):
            raise InvalidParametersError("The request body must be a JSON object.")
        return data

    @app.get(API + "/extensions")
    def extensions_info() -> Response:
        return jsonify(ext.info(SERVED_BY))

    @app.get(API + "/executions/<execution_id>/tree")
    def tree(execution_id: str) -> Response:
        return jsonify(ext.execution_tree(_mistral_api(), host.store, host.container.get(execution_id)))

    @app.get(API + "/executions/<execution_id>/tasks/<path:task>/context")
    def task_context(execution_id: str, task: str) -> Response:
        doc = host.container.get(execution_id)
        secrets = params.secret_names(host.container.schema_for(doc["action"]))
        try:
            view = ext.task_context(_mistral_api(), host.store, doc, task, secrets)
        except RerunError as exc:
            return _refusal(exc, 404)
        return jsonify(views.masker(host.store, doc)(view))

    @app.post(API + "/executions/<execution_id>/rerun_check")
    def check_rerun(execution_id: str) -> Response:
        return jsonify(ext.check_execution(_mistral_api(), host.store, host.container.get(execution_id), body()))

    @app.post(API + "/executions/<execution_id>/resume_next")
    def resume_next(execution_id: str) -> Response:
        resume = ext.resume_request(body())
        original = host.container.get(execution_id)
        try:
            ext.check_resume(_mistral_api(), host.store, original, resume)
        except RerunError as exc:
            return _refusal(exc)
        rerun_body: Dict[str, Any] = dict(resume.rerun_options(), user=g.user)
        new_doc = host.container.rerun(execution_id, rerun_body, g.user)  # the host's re_run mapping
        # The answer waits for the runner's start (run() returned): "running" is stored before
        # run() is called, and a refusal (failed) only comes back from it.
        new_doc = host.container.wait_started(new_doc["id"], ext.START_WAIT_SECONDS)
        error = ext.start_failure(new_doc)
        if error:
            resp = jsonify({"faultstring": error, "execution": views.execution(host.store, new_doc)})
            resp.status_code = 400
            return resp
        LOG.info("execution %s resumes %s after tasks %s", new_doc["id"], execution_id, ", ".join(resume.tasks))
        resp = jsonify(views.execution(host.store, new_doc))
        resp.status_code = 201
        return resp
