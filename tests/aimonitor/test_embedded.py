"""The embedded mode's in-process Celery worker: a task queued on the in-memory broker (not run
eagerly) is consumed by the worker thread."""
from __future__ import annotations

import time
import uuid

import pytest
from django.core.cache import cache

from aimonitor import embedded
from aimonitor.celery import app
from aimonitor.tasks import ping


@pytest.fixture
def real_queue(settings):
    if not settings.CELERY_EMBEDDED:
        pytest.skip("the embedded worker only runs with the in-memory broker (no REDIS_URL)")
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True
    embedded.stop()


def _wait_for(key: str, timeout: float = 20.0) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cache.get(key)
        if value is not None:
            return value
        time.sleep(0.05)
    return None


@pytest.mark.usefixtures("real_queue")
def test_embedded_worker_consumes_queued_tasks():
    key = f"ping-{uuid.uuid4().hex}"
    ping.delay(key)
    time.sleep(0.3)
    assert cache.get(key) is None  # queued, not run inline: nothing consumes it yet
    started = embedded.start(concurrency=2, with_beat=True)
    assert started is not None
    assert embedded.start() is None  # once per process
    assert _wait_for(key) == "pong"
    other = f"ping-{uuid.uuid4().hex}"
    ping.apply_async((other,), queue="inference")  # the GPU queue is consumed too
    assert _wait_for(other) == "pong"


def test_embedded_worker_does_not_start_with_a_real_broker(settings):
    settings.CELERY_EMBEDDED = False
    assert embedded.start() is None
