"""``GET /api/system/gpus``, ``GET /api/system/info`` and the Prometheus ``/metrics`` endpoint."""
from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from aimonitor import metrics
from aimonitor.api.errors import error_response
from aimonitor.api.schema import ERROR_RESPONSES

from . import services

logger = logging.getLogger(__name__)

GPU_CARD = inline_serializer("GpuCard", {
    "host": serializers.CharField(), "index": serializers.IntegerField(), "name": serializers.CharField(),
    "uuid": serializers.CharField(), "utilization_percent": serializers.IntegerField(allow_null=True),
    "memory_used_bytes": serializers.IntegerField(allow_null=True),
    "memory_total_bytes": serializers.IntegerField(allow_null=True),
    "temperature_c": serializers.IntegerField(allow_null=True),
})
GPUS_RESPONSE = inline_serializer("SystemGpus", {
    "available": serializers.BooleanField(), "detail": serializers.CharField(),
    "gpus": GPU_CARD.__class__(many=True), "hosts": serializers.ListField(child=serializers.DictField()),
})
INFO_RESPONSE = inline_serializer("SystemInfo", {
    "versions": serializers.DictField(), "mode": serializers.DictField(), "workers": serializers.DictField(),
    "queues": serializers.DictField(), "tasks": serializers.DictField(),
})


class SystemGpusView(APIView):
    """GPU utilisation, memory and temperature of every worker host (NVML), or a plain "no GPU"."""

    required_roles = {"GET": "viewer"}

    @extend_schema(
        summary="GPUs of the worker hosts (NVML)",
        tags=["system"],
        responses={200: GPUS_RESPONSE, **ERROR_RESPONSES(401, 403)},
        examples=[
            OpenApiExample("one GPU", response_only=True, value={
                "available": True, "detail": "1 GPU(s) on 1 host(s).",
                "gpus": [{"host": "gpu-1", "index": 0, "name": "NVIDIA L4", "uuid": "GPU-7f3c...",
                          "utilization_percent": 63, "memory_used_bytes": 5368709120,
                          "memory_total_bytes": 24152899584, "temperature_c": 61}],
                "hosts": [{"host": "gpu-1", "available": True, "driver": "550.54.15", "error": None,
                           "sampled_at": "2026-11-28T15:00:00+00:00", "gpus": ["..."]}],
            }),
            OpenApiExample("CPU machine", response_only=True, value={
                "available": False, "detail": "No GPU: inference runs on the CPU. (web-1: no GPU: NVML is unavailable)",
                "gpus": [], "hosts": [{"host": "web-1", "available": False, "driver": None,
                                       "error": "no GPU: NVML is unavailable", "gpus": []}],
            }),
        ],
    )
    def get(self, request):
        return Response(services.gpu_overview())


class SystemInfoView(APIView):
    """Versions, Celery workers online, queue lengths and task counts, for operators."""

    required_roles = {"GET": "operator"}

    @extend_schema(
        summary="Versions, workers online, queue lengths and task counts",
        tags=["system"],
        responses={200: INFO_RESPONSE, **ERROR_RESPONSES(401, 403)},
        examples=[OpenApiExample("two workers", response_only=True, value={
            "versions": {"python": "3.11.2", "django": "5.2.19", "celery": "5.7.0", "torch": "2.14.1",
                         "database": "postgresql 15.8"},
            "mode": {"embedded": False, "debug": False, "inference_device": "cuda:0"},
            "workers": {"online": 2, "workers": ["inference@gpu-1", "default@web-1"], "active_tasks": 3,
                        "reserved_tasks": 0, "error": None, "inspect_ms": 1003.2},
            "queues": {"default": 0, "inference": 2},
            "tasks": {"monitor_tasks": {"total": 4, "by_status": {"running": 3, "stopped": 1}},
                      "streams": {"total": 4, "by_status": {"online": 4}},
                      "alerts": {"total": 120, "by_status": {"new": 17, "processed": 103}}},
        })],
    )
    def get(self, request):
        return Response(services.system_info())


# --- /metrics ---------------------------------------------------------------------------------------

def _client_ip_allowed(request) -> bool:
    # Behind a proxy REMOTE_ADDR is the proxy's own (often 127.0.0.1): a proxied request is never
    # admitted by address, only by token.
    if request.META.get("HTTP_X_FORWARDED_FOR") or request.META.get("HTTP_X_REAL_IP"):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for entry in settings.METRICS_ALLOWED_IPS:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            logger.warning("METRICS_ALLOWED_IPS has an invalid entry: %r", entry)
    return False


def _token_ok(request) -> bool:
    expected = settings.METRICS_TOKEN
    if not expected:
        return False
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


def metrics_allowed(request) -> bool:
    """Public in DEBUG (METRICS_PUBLIC); otherwise the scraper's token or a direct allowed address."""
    return settings.METRICS_PUBLIC or _token_ok(request) or _client_ip_allowed(request)


def _registry():
    folder = metrics.multiprocess_dir()
    if folder is None:
        return REGISTRY
    from prometheus_client import multiprocess

    # Every process of this host (gunicorn workers, Celery pool children) writes its values there.
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    return registry


def metrics_view(request):
    """Prometheus text exposition of every AIMonitor metric of this host."""
    if not settings.METRICS_ENABLED:
        return error_response(404, "Not found.")
    if request.method not in ("GET", "HEAD"):
        return error_response(405, f'Method "{request.method}" not allowed.')
    if not metrics_allowed(request):
        return error_response(403, "Metrics are restricted: send the scrape token or scrape from an allowed address.")
    try:
        services.refresh_scrape_gauges()
    except Exception:  # noqa: BLE001 - a broken dependency must not hide the other metrics
        logger.warning("Could not refresh scrape-time gauges", exc_info=True)
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
