"""Celery tasks of the streams app (thin: they take ids and call services)."""
from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


# --- Cameras and ZLMediaKit (streams engineer) ---------------------------------------------------
def _zlm_unavailable():
    from .zlm import ZLMUnavailable

    return ZLMUnavailable


@shared_task(bind=True, autoretry_for=(ConnectionError,), max_retries=5, retry_backoff=2, retry_backoff_max=120,
             retry_jitter=True, ignore_result=True)
def sync_stream_proxy(self, stream_id: int) -> str | None:
    """Adds or removes the stream's ZLM proxy to match the row (enabled or not). Safe to run twice:
    adding replaces a stale proxy. A media server that cannot be reached is retried with back-off;
    a source ZLM cannot pull is recorded on the stream (offline) and not retried."""
    from . import services
    from .zlm import ZLMError

    try:
        return services.sync_proxy(stream_id)
    except _zlm_unavailable() as exc:
        raise ConnectionError(exc.msg) from None
    except ZLMError as exc:
        logger.warning("Proxy sync for stream %s failed: %s", stream_id, exc.msg)
        return None


@shared_task(bind=True, autoretry_for=(ConnectionError,), max_retries=5, retry_backoff=2, retry_backoff_max=120,
             retry_jitter=True, ignore_result=True)
def delete_stream_proxy(self, key: str) -> bool:
    """Removes a deleted stream's proxy from ZLM (its row is already gone, so this takes the key)."""
    from .zlm import ZLMError, get_client

    client = get_client()
    if client is None or not key:
        return False
    try:
        return client.del_stream_proxy(key)
    except _zlm_unavailable() as exc:
        raise ConnectionError(exc.msg) from None
    except ZLMError as exc:
        logger.warning("Removing proxy %s failed: %s", key, exc.msg)
        return False


@shared_task(ignore_result=True, max_retries=0)
def reconcile_streams() -> dict:
    """Beat: re-adds proxies ZLM lost and refreshes online/offline. Skipped (not retried) when the
    media server is down: the next beat tries again."""
    from . import services
    from .zlm import ZLMError

    try:
        summary = services.reconcile()
    except ZLMError as exc:
        logger.warning("Stream reconcile skipped: %s", exc.msg)
        return {"error": exc.msg}
    logger.info("Stream reconcile: %s", summary)
    return summary
# --- end cameras and ZLMediaKit ------------------------------------------------------------------


# --- Monitoring tasks (the worker loop and the reconcile) -----------------------------------------
from celery.signals import worker_init, worker_shutdown, worker_shutting_down  # noqa: E402
from django.db import InterfaceError, OperationalError  # noqa: E402


@shared_task(name="streams.run_monitor_task", acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             max_retries=5, retry_backoff=True, retry_jitter=True)
def run_monitor_task(task_id: int) -> str:
    """Claims monitoring task ``task_id`` and runs its loop until it is stopped or the worker shuts
    down. Safe to run twice: a second copy finds the task claimed and returns ``not-claimed``."""
    from . import worker

    return worker.run_task(task_id)


@shared_task(name="streams.reconcile_monitor_tasks", autoretry_for=(OperationalError, InterfaceError),
             max_retries=3, retry_backoff=True, retry_jitter=True)
def reconcile_monitor_tasks() -> dict:
    """Beat: re-queues tasks whose heartbeat is stale and clears claims of stopped tasks."""
    from . import tasks_services

    return tasks_services.reconcile()


@worker_shutting_down.connect
@worker_shutdown.connect
def _stop_monitor_loops(**_kwargs) -> None:
    """On SIGTERM (or an in-process worker's stop) every loop of this worker ends and hands its task
    back; the warm shutdown then waits for the loops to return."""
    from . import worker

    worker.SHUTDOWN.set()
@worker_init.connect
def _allow_monitor_loops(**_kwargs) -> None:
    """A worker starting in this process (again, for the embedded one) runs loops."""
    from . import worker

    worker.SHUTDOWN.clear()
# --- (monitoring tasks end) -----------------------------------------------------------------------
