"""Celery tasks of the alerts app: thin wrappers over :mod:`alerts.services`."""
from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from . import services


@shared_task(autoretry_for=(DatabaseError, OSError), max_retries=3, retry_backoff=True, retry_jitter=True,
             ignore_result=False)
def purge_expired_alerts() -> int:
    """Deletes alerts older than ``ALERT_RETENTION_DAYS`` with their snapshot files, in batches (beat
    runs it every ``ALERT_PURGE_INTERVAL_MINUTES``). Safe to run twice or concurrently."""
    return services.purge_expired_alerts()
