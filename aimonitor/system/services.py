"""What the system endpoints and ``/metrics`` report, read from the cache, the broker and the database.

Every reader is bounded in time (Celery inspect and the broker have timeouts) and reports a failing
dependency in its answer instead of raising, so a status page works best when things go wrong.
"""
from __future__ import annotations

import logging
import platform
import time
from importlib import metadata

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models import Count

from aimonitor import gpu, metrics

logger = logging.getLogger(__name__)

VERSIONED_PACKAGES = (
    "Django", "djangorestframework", "channels", "celery", "daphne", "gunicorn", "uvicorn", "torch",
    "torchvision", "ultralytics", "opencv-python", "onnxruntime", "numpy", "av", "faiss-cpu", "nvidia-ml-py",
)


def gpu_overview() -> dict:
    """Every sampling host's GPUs, flattened with the host name, plus ``available`` and a ``detail``
    that says "no GPU" plainly on CPU machines."""
    samples = gpu.current_samples()
    gpus = [{"host": s["host"], **card} for s in samples for card in s.get("gpus", [])]
    available = bool(gpus)
    if available:
        detail = f"{len(gpus)} GPU(s) on {len({g['host'] for g in gpus})} host(s)."
    else:
        reasons = "; ".join(f"{s['host']}: {s.get('error') or 'no devices'}" for s in samples)
        detail = f"No GPU: inference runs on the CPU. ({reasons})" if reasons else "No GPU."
    return {"available": available, "detail": detail, "gpus": gpus, "hosts": samples}


def versions() -> dict:
    """Versions of the platform and its main packages (read from package metadata: nothing is imported)."""
    found = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            found[name.lower()] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name.lower()] = None
    found["aimonitor"] = settings.SPECTACULAR_SETTINGS.get("VERSION")
    found["database"] = f"{connection.vendor} {_database_version()}".strip()
    return found


def _database_version() -> str:
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SHOW server_version")
            elif connection.vendor == "sqlite":
                cursor.execute("SELECT sqlite_version()")
            else:
                return ""
            return str(cursor.fetchone()[0])
    except Exception:  # noqa: BLE001 - the version is a nicety; health reports the database itself
        return ""


def celery_workers(timeout: float | None = None) -> dict:
    """Workers that answer a ping within ``timeout`` seconds, with their active and reserved tasks.

    With no worker running this waits the whole timeout and answers ``online: 0``.
    """
    from aimonitor.celery import app

    timeout = settings.SYSTEM_INSPECT_TIMEOUT if timeout is None else timeout
    result = {"online": 0, "workers": [], "active_tasks": 0, "reserved_tasks": 0, "error": None}
    started = time.perf_counter()
    try:
        replies = app.control.inspect(timeout=timeout).ping() or {}
        names = sorted(replies)
        result.update(online=len(names), workers=names)
        if names:
            # limit=: return as soon as every known worker has answered, not after the timeout.
            inspector = app.control.inspect(destination=names, timeout=timeout, limit=len(names))
            result["active_tasks"] = sum(len(v) for v in (inspector.active() or {}).values())
            result["reserved_tasks"] = sum(len(v) for v in (inspector.reserved() or {}).values())
    except Exception as exc:  # noqa: BLE001 - an unreachable broker reads as no workers, with the reason
        result["error"] = f"{type(exc).__name__}: {exc}"[:300]
    result["inspect_ms"] = round((time.perf_counter() - started) * 1000, 1)
    metrics.CELERY_WORKERS_ONLINE.set(result["online"])
    return result


def queue_lengths(queues: list[str] | None = None) -> dict:
    """Messages waiting in each Celery queue, or ``None`` for a queue the broker could not measure."""
    from aimonitor.celery import app

    names = list(queues if queues is not None else settings.SYSTEM_QUEUES)
    lengths: dict[str, int | None] = dict.fromkeys(names)
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel = conn.default_channel
            for name in names:
                lengths[name] = _queue_length(channel, name)
    except Exception:  # noqa: BLE001
        logger.warning("Could not read Celery queue lengths", exc_info=True)
    return lengths


def _queue_length(channel, name: str) -> int:
    try:
        return int(channel.queue_declare(queue=name, passive=True).message_count)
    except Exception:  # noqa: BLE001 - a queue nothing was ever sent to does not exist yet: it is empty
        return 0


def _counts_by_status(app_label: str, model_name: str) -> dict:
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        return {"total": 0, "by_status": {}}
    rows = model.objects.order_by().values("status").annotate(n=Count("id"))
    by_status = {row["status"]: row["n"] for row in rows}
    return {"total": sum(by_status.values()), "by_status": by_status}


def task_counts() -> dict:
    """Monitoring tasks, streams and alerts by status, one grouped query each."""
    return {
        "monitor_tasks": _counts_by_status("streams", "MonitorTask"),
        "streams": _counts_by_status("streams", "VideoStream"),
        "alerts": _counts_by_status("alerts", "Alert"),
    }


def system_info() -> dict:
    """Everything ``GET /api/system/info`` shows."""
    return {
        "versions": versions(),
        "mode": {"embedded": settings.CELERY_EMBEDDED, "debug": settings.DEBUG,
                 "inference_device": settings.INFERENCE_DEVICE},
        "workers": celery_workers(),
        "queues": queue_lengths(),
        "tasks": task_counts(),
    }


def refresh_scrape_gauges() -> None:
    """Sets the gauges that are read at scrape time: queue depth, tasks by status, GPU figures."""
    for queue, length in queue_lengths().items():
        if length is not None:
            metrics.QUEUE_DEPTH.labels(queue=queue).set(length)
    tasks = task_counts()["monitor_tasks"]["by_status"]
    for status in _task_statuses() | set(tasks):
        metrics.MONITOR_TASKS.labels(status=status).set(tasks.get(status, 0))
    for sample in gpu.cached_samples():
        for card in sample.get("gpus", []):
            labels = {"host": sample["host"], "gpu": str(card["index"])}
            for gauge, key in ((metrics.GPU_UTILIZATION, "utilization_percent"),
                               (metrics.GPU_MEMORY_USED, "memory_used_bytes"),
                               (metrics.GPU_MEMORY_TOTAL, "memory_total_bytes"),
                               (metrics.GPU_TEMPERATURE, "temperature_c")):
                if card.get(key) is not None:
                    gauge.labels(**labels).set(card[key])


def _task_statuses() -> set[str]:
    try:
        model = apps.get_model("streams", "MonitorTask")
    except LookupError:
        return set()
    return {value for value, _label in model._meta.get_field("status").choices}
