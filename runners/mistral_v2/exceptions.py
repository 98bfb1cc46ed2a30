"""The package's single exception hierarchy; every error a user can see derives from St2MistralError."""
from __future__ import annotations

from typing import Any, Dict, List, Optional


class St2MistralError(Exception):
    """Root of every error raised by st2-mistral."""


class ConfigurationError(St2MistralError):
    """Configuration is missing or inconsistent."""


class DefinitionError(St2MistralError):
    """A workflow/workbook definition is missing, unreadable, invalid or misnamed."""


class InvalidParametersError(St2MistralError):
    """Action parameters do not match the action metadata."""


class MistralError(St2MistralError):
    """Base for problems talking to Mistral."""


class MistralUnreachableError(MistralError):
    """Mistral did not answer (connection error, timeout or 5xx) after all retries."""


class MistralAPIError(MistralError):
    """Mistral answered with a 4xx (not retried) or an unusable body."""

    def __init__(self, message: str, status_code: Optional[int] = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class WorkflowNotFoundError(MistralAPIError):
    """The workflow, workbook or execution does not exist in Mistral."""


class ExpressionFunctionError(St2MistralError):
    """An st2mistral expression function (YAQL/Jinja) got input it cannot use; names the function."""


class StackStormAPIError(St2MistralError):
    """The StackStorm API refused or failed a request; `status_code` and the decoded `body` of a
    refusal (4xx) are kept for the caller (None when StackStorm stayed unreachable), `response`
    is StackStorm's last answer when there was one (a refusal or the last 5xx)."""

    def __init__(self, message: str, status_code: Optional[int] = None, body: Any = None,
                 response: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.response = response


class InvalidOperationError(St2MistralError):
    """Pause/resume/cancel/re-run is not allowed in the execution's current state."""


class RerunError(InvalidOperationError):
    """A re-run or resume request names tasks that cannot be re-run; lists each offender."""

    def __init__(self, message: str, offenders: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.offenders = offenders or {}


class MissingRequirementsError(RerunError):
    """Resume-from-next lacks published variables; `missing` maps task -> variable names."""

    def __init__(self, message: str, missing: Dict[str, List[str]]) -> None:
        super().__init__(message, {k: ", ".join(v) for k, v in missing.items()})
        self.missing = missing


def describe(exc: BaseException) -> Dict[str, Any]:
    """A result-friendly dict for an error: its type name and message, never a traceback only."""
    return {"error": str(exc), "error_type": type(exc).__name__}
