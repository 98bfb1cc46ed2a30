"""st2api's controller of the st2-mistral routes (paths in spec.py): mistral_v2.extensions over st2's database.

Imported only by st2api's router (the operationIds of spec.py), after StackStorm's service set-up.
Authentication is st2api's (the spec's global security); each route checks StackStorm's RBAC on
the execution: execution view for the reads, execution re-run for resume_next (StackStorm's own
re-run controller then applies its checks too).
"""
from __future__ import annotations

import importlib
import logging
import time
from typing import Any, Callable, Dict

from mistral_v2 import extensions as ext
from mistral_v2 import seam
from mistral_v2.exceptions import (
    InvalidOperationError,
    InvalidParametersError,
    MistralError,
    RerunError,
    St2MistralError,
)
from mistral_v2.mistral_api import shared as shared_api
from st2mistral_compat import patches

LOG = logging.getLogger(__name__)

SERVED_BY = "st2api (st2mistral-compat)"
RERUN_CONTROLLERS = "st2api.controllers.v1.actionexecutions"
POLL_SECONDS = 0.25


def _body(body: Any) -> Dict[str, Any]:
    """st2's router hands a JSON object body as a GenericRequestParam (attributes = keys)."""
    return {} if body is None else dict(vars(body))


def _refuse(exc: St2MistralError, status: int) -> Any:
    return seam.json_response(ext.refusal_body(exc), status)


def _answer(make: Callable[[], Any], status: int = 200) -> Any:
    """`make()` as JSON; our refusals as 400 (404 for an unknown task), Mistral failures as 502."""
    try:
        return seam.json_response(make(), status)
    except (InvalidOperationError, InvalidParametersError) as exc:  # RerunError included
        return _refuse(exc, 400)
    except MistralError as exc:
        return _refuse(exc, 502)


class MistralExtensionsController:
    """GET tree, GET tasks/<task>/context, POST rerun_check, POST resume_next, GET extensions."""

    def __init__(self) -> None:
        self.executions = seam.St2Executions()

    def info(self, requester_user: Any) -> Any:
        return ext.info(SERVED_BY)

    def tree(self, id: str, requester_user: Any) -> Any:
        doc = seam.load_execution(id, requester_user, seam.EXECUTION_VIEW)
        return _answer(lambda: ext.execution_tree(shared_api(), self.executions, doc))

    def context(self, id: str, task: str, requester_user: Any) -> Any:
        doc = seam.load_execution(id, requester_user, seam.EXECUTION_VIEW)
        try:
            view = ext.task_context(shared_api(), self.executions, doc, task)
        except RerunError as exc:
            return _refuse(exc, 404)
        return _answer(lambda: ext.execution_masker(self.executions, doc, [])(view))

    def rerun_check(self, id: str, body: Any, requester_user: Any) -> Any:
        doc = seam.load_execution(id, requester_user, seam.EXECUTION_VIEW)
        return _answer(lambda: ext.check_execution(shared_api(), self.executions, doc, _body(body)))

    def resume_next(self, id: str, body: Any, requester_user: Any) -> Any:
        doc = seam.load_execution(id, requester_user, seam.EXECUTION_RE_RUN)
        try:
            request = ext.resume_request(_body(body))
            ext.check_resume(shared_api(), self.executions, doc, request)
        except (InvalidOperationError, InvalidParametersError) as exc:
            return _refuse(exc, 400)
        created = patches.schedule_rerun(importlib.import_module(RERUN_CONTROLLERS), id, requester_user,
                                         request.rerun_options())
        new_id = created.json["id"]
        LOG.info("execution %s resumes %s after tasks %s", new_id, id, ", ".join(request.tasks))
        return self._started(new_id)

    def _started(self, new_id: str) -> Any:
        """201 with the new execution once the runner's start is recorded (400 with its error
        when the runner refused at start), as the local host answers."""
        deadline = time.monotonic() + ext.START_WAIT_SECONDS
        doc = self.executions.get_execution(new_id) or {}
        while not ext.start_recorded(doc) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)  # green under st2api's eventlet patching
            doc = self.executions.get_execution(new_id) or {}
        shown = seam.masked_execution(new_id)
        error = ext.start_failure(doc)
        if error:
            return seam.json_response({"faultstring": error, "execution": shown}, 400)
        return seam.json_response(shown, 201)


controller = MistralExtensionsController()
