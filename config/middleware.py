"""Cross-cutting HTTP concerns: request ids, body limits, and errors outside DRF views."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from config.errors import KilnError, as_kiln_error, error_response
from config.logging import request_id_var

logger = logging.getLogger(__name__)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Every response carries `X-Request-Id`: the caller's (if sane) or a new one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-Id"] = request_id
        return response


class ErrorResponseMiddleware:
    """Errors raised outside DRF's handler still answer in the SPEC §3 shape.

    Oversized bodies are refused before anything reads them; a dead Redis or database
    becomes 503 UNAVAILABLE; anything unexplained is logged and answered as a JSON 500.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return error_response(
                KilnError(
                    "TOO_LARGE",
                    f"request body is {length} bytes; the limit is "
                    f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE}",
                )
            )
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse:
        error = as_kiln_error(exception)
        if error is None:
            logger.exception("unhandled error on %s %s", request.method, request.path)
            error = KilnError("RENDER_FAILED", "internal error; it has been logged")
        elif error.code == "UNAVAILABLE":
            logger.warning("backing service unavailable: %r", exception)
        return error_response(error)
