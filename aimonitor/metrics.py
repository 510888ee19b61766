"""Prometheus metrics that every app updates, and the helpers to update them.

Other apps import the helpers (never prometheus_client directly), so names, labels and units stay in
one place:

    from aimonitor import metrics
    metrics.observe_inference(algorithm_id, seconds, batch_size=len(frames))   # algorithms engine
    metrics.count_frames(task_id, n)                                            # monitoring worker loop
    metrics.count_alert(alert.type, alert.level)                                # alerts.services.raise_alert
    metrics.count_stream_reconnect(stream_id)                                   # streams capture

Request latency (``RequestMetricsMiddleware``) and WebSocket connections (``WebSocketMetricsMiddleware``,
wrapped around the ASGI WebSocket router) are measured here, so no view or consumer has to. Queue
depth, task counts and GPU figures are read when ``/metrics`` is scraped (see ``aimonitor.system``).

Processes: gunicorn runs several worker processes and Celery forks pool children, so the values live
in ``PROMETHEUS_MULTIPROC_DIR`` (memory-mapped files, one per process) when that variable is set
before prometheus_client is imported (the start scripts set it); ``/metrics`` then merges every
process of the host. Without it (tests, ``make run``) the values stay in the process.
"""
from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

logger = logging.getLogger(__name__)

# In multi-process mode every metric writes a file at creation: the folder must exist before any
# process (a manage.py command, a worker) imports this module.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

NAMESPACE = "aimonitor"

# Buckets in seconds: HTTP requests span 1 ms (health) to the 120 s server timeout (video work);
# inference spans ~1 ms (TensorRT on a GPU) to ~1 s (PyTorch on a small CPU).
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_INFERENCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5)

HTTP_REQUESTS = Counter(
    "http_requests", "HTTP requests served, by method, route pattern and status code.",
    ["method", "route", "status"], namespace=NAMESPACE,
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds", "Time from the request reaching Django to the response leaving it.",
    ["method", "route"], namespace=NAMESPACE, buckets=_HTTP_BUCKETS,
)
INFERENCE_DURATION = Histogram(
    "inference_duration_seconds", "Model inference time per batch (one predict call), by algorithm.",
    ["algorithm"], namespace=NAMESPACE, buckets=_INFERENCE_BUCKETS,
)
INFERENCE_FRAMES = Counter(
    "inference_frames", "Frames passed through a model, by algorithm.", ["algorithm"], namespace=NAMESPACE,
)
FRAMES_PROCESSED = Counter(
    "frames_processed", "Frames a monitoring task has analysed, by task id.", ["task"], namespace=NAMESPACE,
)
ALERTS_RAISED = Counter(
    "alerts_raised", "Alerts raised, by alert type and level.", ["type", "level"], namespace=NAMESPACE,
)
STREAM_RECONNECTS = Counter(
    "stream_reconnects", "Times frame capture reconnected to a camera, by stream id.", ["stream"],
    namespace=NAMESPACE,
)
WEBSOCKET_CONNECTIONS = Gauge(
    "websocket_connections", "Open WebSocket connections, by route.", ["route"], namespace=NAMESPACE,
    # Summed over the live server processes: a process that died no longer holds connections.
    multiprocess_mode="livesum",
)
QUEUE_DEPTH = Gauge(
    "queue_depth", "Messages waiting in a Celery queue (read from the broker when scraped).", ["queue"],
    namespace=NAMESPACE, multiprocess_mode="mostrecent",
)
MONITOR_TASKS = Gauge(
    "monitor_tasks", "Monitoring tasks by status (read from the database when scraped).", ["status"],
    namespace=NAMESPACE, multiprocess_mode="mostrecent",
)
CELERY_WORKERS_ONLINE = Gauge(
    "celery_workers_online", "Celery workers that answered a ping at the last scrape of /api/system/info.",
    namespace=NAMESPACE, multiprocess_mode="mostrecent",
)
GPU_UTILIZATION = Gauge(
    "gpu_utilization_percent", "GPU utilisation sampled through NVML, by host and GPU index.",
    ["host", "gpu"], namespace=NAMESPACE, multiprocess_mode="mostrecent",
)
GPU_MEMORY_USED = Gauge(
    "gpu_memory_used_bytes", "GPU memory in use, by host and GPU index.", ["host", "gpu"],
    namespace=NAMESPACE, multiprocess_mode="mostrecent",
)
GPU_MEMORY_TOTAL = Gauge(
    "gpu_memory_total_bytes", "GPU memory installed, by host and GPU index.", ["host", "gpu"],
    namespace=NAMESPACE, multiprocess_mode="mostrecent",
)
GPU_TEMPERATURE = Gauge(
    "gpu_temperature_celsius", "GPU temperature, by host and GPU index.", ["host", "gpu"],
    namespace=NAMESPACE, multiprocess_mode="mostrecent",
)


def _safe(update, *args) -> None:
    # A metric must never break the frame loop or a request: log and carry on.
    try:
        update(*args)
    except Exception:  # noqa: BLE001
        logger.debug("metric update failed", exc_info=True)


def observe_inference(algorithm, seconds: float, batch_size: int = 1) -> None:
    """One predict call of ``algorithm`` (its id or name) over ``batch_size`` frames took ``seconds``."""
    label = str(algorithm)
    _safe(lambda: INFERENCE_DURATION.labels(algorithm=label).observe(max(0.0, float(seconds))))
    _safe(lambda: INFERENCE_FRAMES.labels(algorithm=label).inc(max(0, int(batch_size))))


def observe_inference_ms(algorithm, milliseconds: float, batch_size: int = 1) -> None:
    """Same as :func:`observe_inference`, for callers that measure in milliseconds."""
    observe_inference(algorithm, float(milliseconds) / 1000.0, batch_size)


def count_frames(task_id, n: int = 1) -> None:
    """``n`` frames of monitoring task ``task_id`` went through detection and the rules."""
    _safe(lambda: FRAMES_PROCESSED.labels(task=str(task_id)).inc(max(0, int(n))))


def count_alert(alert_type: str, level: str) -> None:
    """An alert was raised (call it once the alert row is saved)."""
    _safe(lambda: ALERTS_RAISED.labels(type=str(alert_type), level=str(level)).inc())


def count_stream_reconnect(stream_id) -> None:
    """Frame capture lost camera ``stream_id`` and connected again (or tried to)."""
    _safe(lambda: STREAM_RECONNECTS.labels(stream=str(stream_id)).inc())


# --- Request latency ----------------------------------------------------------------------------

def _route_of(request) -> str:
    # The URL pattern, not the path: /api/alerts/<pk> is one series, not one per alert.
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return (match.route or match.view_name or "unmatched")[:120]


class RequestMetricsMiddleware:
    """Counts every request and times it, labelled by route pattern (bounded cardinality)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = _route_of(request)
        _safe(lambda: HTTP_REQUEST_DURATION.labels(method=request.method, route=route).observe(elapsed))
        _safe(lambda: HTTP_REQUESTS.labels(method=request.method, route=route,
                                           status=str(response.status_code)).inc())
        return response


# --- WebSocket connections -----------------------------------------------------------------------

_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")


def websocket_route(path: str) -> str:
    """``/ws/monitor-tasks/12/`` -> ``/ws/monitor-tasks/{id}/``: one series per route."""
    return _ID_SEGMENT.sub("/{id}", path or "/")[:120]


class WebSocketMetricsMiddleware:
    """ASGI middleware around the WebSocket router: a connection counts from the moment the consumer
    accepts it until the connection ends, whichever consumer serves it."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "websocket":
            return await self.inner(scope, receive, send)
        gauge = WEBSOCKET_CONNECTIONS.labels(route=websocket_route(scope.get("path", "")))
        accepted = False

        async def counting_send(message):
            nonlocal accepted
            if message.get("type") == "websocket.accept" and not accepted:
                accepted = True
                _safe(gauge.inc)
            elif message.get("type") == "websocket.close" and accepted:
                # The consumer closed the connection itself; count it closed now, once.
                accepted = False
                _safe(gauge.dec)
            await send(message)

        try:
            return await self.inner(scope, receive, counting_send)
        finally:
            if accepted:
                _safe(gauge.dec)


# --- Multi-process collection ---------------------------------------------------------------------

def multiprocess_dir() -> Path | None:
    """The folder where this host's processes keep their values, or None (single-process mode)."""
    raw = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")
    return Path(raw) if raw else None


def mark_process_dead(pid: int) -> None:
    """Drops a finished process's live gauges (gunicorn's child_exit, Celery's pool child exit)."""
    folder = multiprocess_dir()
    if folder is None:
        return
    from prometheus_client import multiprocess

    _safe(multiprocess.mark_process_dead, pid, str(folder))


_PID_IN_NAME = re.compile(r"_(\d+)\.db$")


def prune_dead_process_files() -> int:
    """Removes value files left by processes that no longer exist (a restart after a crash, a deploy).

    Called when a server or worker starts, instead of wiping the folder: the other components of
    the host share it and are still running. Returns how many files were removed.
    """
    folder = multiprocess_dir()
    if folder is None or not folder.is_dir():
        return 0
    removed = 0
    for file in folder.glob("*.db"):
        match = _PID_IN_NAME.search(file.name)
        if not match:
            continue
        pid = int(match.group(1))
        if _pid_alive(pid):
            continue
        try:
            file.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
