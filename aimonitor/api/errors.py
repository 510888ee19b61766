"""The one JSON error shape: ``{"code": "...", "detail": "...", "errors": {field: [messages]}}``.

Every API error goes through :func:`exception_handler` (DRF) or :func:`error_response` (plain Django
views and the 404/500 handlers), so clients parse one shape everywhere.
"""
from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DataError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    """409: the request is valid but conflicts with the current state (e.g. an object in use)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The uploaded content is too large."
    default_code = "payload_too_large"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be carried out here."
    default_code = "unprocessable"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request needs is unavailable."
    default_code = "service_unavailable"


_DEFAULT_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
    500: "server_error",
    503: "service_unavailable",
}


def error_body(status_code: int, detail: str, code: str | None = None, errors: dict | None = None) -> dict:
    return {"code": code or _DEFAULT_CODES.get(status_code, "error"), "detail": str(detail), "errors": errors or {}}


def error_response(status_code: int, detail: str, code: str | None = None, errors: dict | None = None) -> JsonResponse:
    return JsonResponse(error_body(status_code, detail, code, errors), status=status_code)


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [f"{k}: {m}" for k, v in detail.items() for m in _flatten(v)]
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item)]
    return [str(detail)]


def _field_errors(detail) -> dict:
    """DRF's nested ValidationError detail -> {field: [messages]} (nested fields joined by dots)."""
    result: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and value and all(not isinstance(v, (dict, list)) for v in value):
            result.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                walk(f"{prefix}.{index}" if prefix else str(index), sub)
        else:
            result.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return result


def _first_code(detail, fallback: str) -> str:
    codes = detail.get_codes() if hasattr(detail, "get_codes") else None
    while isinstance(codes, (list, dict)) and codes:
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return codes if isinstance(codes, str) else fallback


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc))
    elif isinstance(exc, (OverflowError, DataError)):
        # A number or text the database cannot hold (SQLite's 64-bit binding, PostgreSQL's column
        # types) came from the request: bad input, not a server fault.
        logger.info("Out-of-range input refused: %s", exc)
        exc = exceptions.ValidationError({"non_field_errors": ["A value is out of range."]}, code="out_of_range")

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__ if context else "?")
        return Response(error_body(500, "Internal server error."), status=500)

    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        messages = _flatten(exc.detail)
        detail = messages[0] if len(messages) == 1 else "Invalid input."
        code = _first_code(exc, "invalid") if len(messages) == 1 else "invalid"
        response.data = error_body(response.status_code, detail, code, errors)
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        code = None
        if isinstance(detail, dict):
            code = str(detail.get("code")) if detail.get("code") else None
            text = detail.get("detail") or "; ".join(_flatten(detail))
            extra_errors = detail.get("errors") if isinstance(detail.get("errors"), dict) else {}
        else:
            text = "; ".join(_flatten(detail))
            extra_errors = {}
            code = getattr(detail, "code", None) if not isinstance(detail, list) else None
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            code = code if code not in (None, "authentication_failed") else "not_authenticated"
            if isinstance(detail, dict) and detail.get("code") == "token_not_valid":
                code = "token_not_valid"
        response.data = error_body(response.status_code, text, code or exc.default_code, extra_errors)
        # simplejwt's token errors carry a messages list; keep them as field-free detail only.
    return response
