"""The one error shape of SPEC §3, and the one place exceptions become it.

    {"error": {"code": "VALIDATION_FAILED", "message": "...", "details": {...}}}

Services raise `KilnError(code, message, details)`; the DRF exception handler and the
middleware turn it (and DRF's, Django's and the infrastructure's own exceptions) into
that body with the status the code implies.
"""

from __future__ import annotations

from typing import Any

import kombu.exceptions
import redis.exceptions
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf

STATUS_BY_CODE: dict[str, int] = {
    "VALIDATION_FAILED": 400,
    "UNAUTHORIZED": 401,
    "QUOTA_EXCEEDED": 402,
    "TIER_LOCKED": 402,
    "FORBIDDEN": 403,
    "HOST_NOT_ALLOWED": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "NOT_ACCEPTABLE": 406,
    "CONFLICT": 409,
    "GONE": 410,
    "TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "PROMPT_BLOCKED": 422,
    "RATE_LIMITED": 429,
    "RENDER_FAILED": 500,
    "UPSTREAM_FAILED": 502,
    "UNAVAILABLE": 503,
    "RENDER_TIMEOUT": 504,
}

# Engine codes that are not in SPEC §3, and the public code each is answered with.
PUBLIC_CODES = {
    "FORBIDDEN_ADDRESS": "HOST_NOT_ALLOWED",  # the target resolves to a refused address
    "UNRESOLVABLE": "UPSTREAM_FAILED",  # the target's host does not resolve
}


def public_code(code: str) -> str:
    return PUBLIC_CODES.get(code, code)


# Infrastructure faults that mean "a backing service is down", answered as 503.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
    OperationalError,
    InterfaceError,
)


class KilnError(Exception):
    """An expected failure with a SPEC §3 code; never a 500 trace."""

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = public_code(code)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return STATUS_BY_CODE.get(self.code, 500)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(error: KilnError) -> JsonResponse:
    response = JsonResponse(
        error_body(error.code, error.message, error.details), status=error.status
    )
    for name, value in error.headers.items():
        response[name] = value
    return response


def _from_drf(exc: drf.APIException) -> KilnError:
    if isinstance(exc, drf.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return KilnError("VALIDATION_FAILED", _first_message(detail), details=detail)
    if isinstance(exc, drf.ParseError):
        return KilnError("VALIDATION_FAILED", f"malformed request body: {exc.detail}")
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return KilnError("UNAUTHORIZED", str(exc.detail))
    if isinstance(exc, drf.PermissionDenied):
        return KilnError("FORBIDDEN", str(exc.detail))
    if isinstance(exc, drf.NotFound):
        return KilnError("NOT_FOUND", str(exc.detail))
    if isinstance(exc, drf.MethodNotAllowed):
        return KilnError("METHOD_NOT_ALLOWED", str(exc.detail))
    if isinstance(exc, drf.NotAcceptable):
        return KilnError("NOT_ACCEPTABLE", str(exc.detail))
    if isinstance(exc, drf.UnsupportedMediaType):
        return KilnError("UNSUPPORTED_MEDIA_TYPE", str(exc.detail))
    if isinstance(exc, drf.Throttled):
        return KilnError("RATE_LIMITED", str(exc.detail))
    return KilnError("RENDER_FAILED", str(exc.detail))


def _first_message(detail: Any, path: str = "") -> str:
    """A readable one-line message from DRF's nested error detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            return _first_message(value, f"{path}.{name}" if path and name else name or path)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0], path)
    text = str(detail)
    return f"{path}: {text}" if path else text


def as_kiln_error(exc: BaseException) -> KilnError | None:
    """Map any exception we know how to explain; None means a genuine bug (a 500)."""
    if isinstance(exc, KilnError):
        return exc
    if isinstance(exc, drf.APIException):
        return _from_drf(exc)
    if isinstance(exc, Http404):
        return KilnError("NOT_FOUND", "not found")
    if isinstance(exc, PermissionDenied):
        return KilnError("FORBIDDEN", "forbidden")
    if isinstance(exc, RequestDataTooBig):
        return KilnError("TOO_LARGE", "request body is over its size limit")
    if isinstance(exc, UNAVAILABLE_ERRORS) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    ):
        return KilnError("UNAVAILABLE", f"a backing service is unreachable: {type(exc).__name__}")
    return None


def api_exception_handler(exc: Exception, context: dict) -> JsonResponse | None:
    error = as_kiln_error(exc)
    if error is None:
        return None  # let Django's 500 handling (and its logging) take it
    response = error_response(error)
    if error.code == "UNAUTHORIZED":
        response["WWW-Authenticate"] = 'Bearer realm="kiln"'
    return response
