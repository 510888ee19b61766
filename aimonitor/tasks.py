"""Project-wide Celery tasks."""
from celery import shared_task
from django.core.cache import cache


@shared_task(name="aimonitor.ping", ignore_result=True)
def ping(key: str, ttl: int = 60) -> None:
    """Diagnostics: writes ``key`` into the cache, which proves a worker consumed the queue. Safe to
    run twice."""
    cache.set(key, "pong", ttl)
