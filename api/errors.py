"""The API's one error shape, `{"error": code, "message": text}`, as the widget API answers
(chat.views.json_error); a 429 also has `retry_after` and the Retry-After header
(supportdesk.ratelimit.too_many)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


class ApiError(exceptions.APIException):
    """A refusal with its own status and code: `raise ApiError(409, "conversation_ended", text)`."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code


def error(status_code: int, code: str, message: str, **extra: Any) -> Response:
    return Response({"error": code, "message": message, **extra}, status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exceptions (and Django's 404/403) in the API's error shape."""
    if isinstance(exc, Http404):
        return error(404, "not_found", str(exc) or "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return error(403, "forbidden", str(exc) or "Forbidden.")
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    status_code = response.status_code
    if isinstance(exc, ApiError):
        return _keep_headers(response, error(status_code, exc.error_code, str(exc.detail)))
    if isinstance(exc, exceptions.ValidationError):
        message = "The request is not valid; see fields."
        body = error(status.HTTP_400_BAD_REQUEST, "invalid", message, fields=exc.detail)
        return _keep_headers(response, body)
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        body = error(429, "rate_limited", str(exc.detail), retry_after=wait)
        body["Retry-After"] = str(wait)
        return _keep_headers(response, body)
    detail = exc.detail
    code = exc.get_codes() if isinstance(detail, str) else None
    if not isinstance(code, str) or code in ("error", "invalid", "permission_denied"):
        code = CODES.get(status_code, "error")
    message = str(detail)
    return _keep_headers(response, error(status_code, code, message))


def _keep_headers(old: Response, new: Response) -> Response:
    """WWW-Authenticate (401) and Allow (405) stay on the answer."""
    for name in ("WWW-Authenticate", "Allow", "Retry-After"):
        if name in old and name not in new:
            new[name] = old[name]
    return new
