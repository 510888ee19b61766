"""Project-wide views: health and the JSON error handlers."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache, caches
from django.db import connection
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from aimonitor.api.errors import error_response
from aimonitor.api.schema import PUBLIC_AUTH

logger = logging.getLogger(__name__)


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        detail = check() or {}
        result = {"status": "ok", **detail}
    except Exception as exc:  # noqa: BLE001 - health reports any failure as "down"
        result = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def check_cache() -> dict:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", 5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return what was written")
    cache.delete(key)
    return {"backend": caches["default"].__class__.__name__}


def check_channel_layer() -> dict:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def roundtrip():
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "health.ping"})
        return await asyncio.wait_for(layer.receive(channel), timeout=2)

    message = async_to_sync(roundtrip)()
    if message.get("type") != "health.ping":
        raise RuntimeError("channel layer returned a different message")
    return {"backend": layer.__class__.__name__}


def check_broker() -> dict:
    from aimonitor.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        transport = conn.transport_cls
    return {"transport": str(transport)}


CHECKS = {
    "database": check_database,
    "cache": check_cache,
    "channel_layer": check_channel_layer,
    "broker": check_broker,
}


HEALTH_SERIALIZER = inline_serializer(
    "Health", {"status": serializers.CharField(), "checks": serializers.DictField()}
)


class HealthView(APIView):
    """Liveness and readiness: each dependency's state. 200 when all are up, 503 otherwise."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Health of the platform and its services",
        auth=PUBLIC_AUTH,
        tags=["system"],
        responses={200: HEALTH_SERIALIZER, 503: HEALTH_SERIALIZER},
        examples=[OpenApiExample("healthy", response_only=True, value={
            "status": "ok",
            "checks": {"database": {"status": "ok", "vendor": "postgresql", "latency_ms": 0.8}},
        })],
    )
    def get(self, request):
        checks = {name: _timed(check) for name, check in CHECKS.items()}
        healthy = all(c["status"] == "ok" for c in checks.values())
        return Response({"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503)


@csrf_exempt  # an unknown path answers 404 for every method, before any CSRF check
def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return error_response(404, "Not found.")
    return HttpResponse("Not found.", status=404, content_type="text/plain")


def server_error(request):
    if request.path.startswith("/api/"):
        return error_response(500, "Internal server error.")
    return HttpResponse("Internal server error.", status=500, content_type="text/plain")
