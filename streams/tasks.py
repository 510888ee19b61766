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
