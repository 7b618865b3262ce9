"""One error envelope for the whole API:

    {"error": {"code": "INSUFFICIENT_BALANCE", "message": "...", "details": {...}}}

Codes are stable (the app switches on them); messages are translated to the client's
language (see `messages.py`). Views raise `ApiError("CODE", status=..., details=...)`;
DRF's own exceptions are mapped onto codes by `exception_handler`.
"""

from __future__ import annotations

import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from .messages import message_for


class ApiError(exceptions.APIException):
    def __init__(
        self,
        code: str,
        *,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        details: dict | None = None,
        message: str | None = None,
    ):
        super().__init__(detail=message or code)
        self.code, self.status_code = code, status_code
        self.details = details or {}
        self.message = message


_DRF_CODES: list[tuple[type[Exception], str]] = [
    (exceptions.ValidationError, "VALIDATION_ERROR"),
    (exceptions.ParseError, "MALFORMED_REQUEST"),
    (exceptions.NotAuthenticated, "UNAUTHENTICATED"),
    (exceptions.AuthenticationFailed, "TOKEN_INVALID"),
    (exceptions.PermissionDenied, "FORBIDDEN"),
    (exceptions.NotFound, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE"),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.Throttled, "RATE_LIMITED"),
]


def exception_handler(exc, context):
    request = context.get("request")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django answer 500 (and Sentry see it)
    if isinstance(exc, ApiError):
        code, details = exc.code, exc.details
    else:
        code = next((c for kind, c in _DRF_CODES if isinstance(exc, kind)), "ERROR")
        details = _details(exc)
    message = getattr(exc, "message", None) or message_for(code, request)
    response = Response(
        {"error": {"code": code, "message": message, "details": details}}, status=exc.status_code
    )
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        response["Retry-After"] = str(_retry_after(exc))
    for header in ("WWW-Authenticate",):
        auth = getattr(exc, "auth_header", None)
        if auth:
            response[header] = auth
    return response


def _details(exc: exceptions.APIException) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        return (
            {"fields": exc.detail}
            if isinstance(exc.detail, dict)
            else {"non_field_errors": exc.detail}
        )
    if isinstance(exc, exceptions.Throttled):
        return {"retry_after": _retry_after(exc) if exc.wait is not None else None}
    return {}


def _retry_after(exc: exceptions.Throttled) -> int:
    return max(1, math.ceil(exc.wait))  # whole seconds, never 0 (DRF already rounds up)
