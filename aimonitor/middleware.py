"""Request-scoped middleware: request ids, the request body size limit, optional trailing slashes and
the access log."""
from __future__ import annotations

import logging
import re
import time
import uuid

from django.conf import settings
from django.urls import Resolver404, resolve

from .api.errors import error_response
from .logging import request_id_var

access_logger = logging.getLogger("aimonitor.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Takes X-Request-ID from the client (when well formed) or makes one; echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class AccessLogMiddleware:
    """One line per request to the access log (logs/access.log); never the query string, which
    may carry tokens."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        user = getattr(request, "user", None)
        username = user.get_username() if user is not None and user.is_authenticated else "-"
        access_logger.info(
            "%s %s %s %.2fms user=%s", request.method, request.path, response.status_code, duration_ms, username,
            extra={"method": request.method, "path": request.path, "status": response.status_code,
                   "duration_ms": duration_ms, "user": username},
        )
        return response


class BodySizeLimitMiddleware:
    """Refuses a request whose declared body is too large with 413 in the shared error shape,
    before anything reads it.

    DRF's parsers read the request stream directly, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE alone
    does not stop a huge JSON body. Multipart uploads (images, model weights) get their own, larger
    limit; each upload endpoint still checks its own file size.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    @staticmethod
    def limit_for(content_type: str) -> int | None:
        if content_type.startswith("multipart/"):
            return settings.MAX_UPLOAD_REQUEST_BYTES
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "The Content-Length header is not a number.", "invalid_content_length")
        limit = self.limit_for(request.META.get("CONTENT_TYPE", ""))
        if limit is not None and length > limit:
            return error_response(413, f"The request body is larger than {limit} bytes.", "payload_too_large")
        return self.get_response(request)


class OptionalTrailingSlashMiddleware:
    """Every API path answers with and without a trailing slash, for every method.

    DRF's routers write either ``/$`` or ``$`` (``trailing_slash="/?"`` becomes ``/``), and
    Django's APPEND_SLASH answers with a redirect that drops a POST or PATCH body. So when an
    ``/api/`` path matches no route but its twin with the slash added (or removed) does, the
    request is routed to the twin internally: no redirect, same method, same body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    @staticmethod
    def _routes(path: str, urlconf) -> bool:
        from aimonitor.views import not_found

        try:
            match = resolve(path, urlconf)
        except Resolver404:
            return False
        return match.func is not not_found  # the /api/ catch-all answers the JSON 404

    def __call__(self, request):
        path = request.path_info
        if path.startswith("/api/") and len(path) > len("/api/"):
            urlconf = getattr(request, "urlconf", None)
            if not self._routes(path, urlconf):
                twin = path[:-1] if path.endswith("/") else f"{path}/"
                if self._routes(twin, urlconf):
                    request.path = request.path[: len(request.path) - len(path)] + twin
                    request.path_info = twin
        return self.get_response(request)
