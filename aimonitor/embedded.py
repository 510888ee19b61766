"""The embedded single-machine mode: Celery's worker and beat run as threads inside the server process.

With no REDIS_URL the broker is kombu's in-memory transport, which only reaches consumers in the
same process; so `make run` (``scripts/run_embedded.sh`` sets ``AIMONITOR_EMBEDDED_WORKERS=1``)
starts a worker on every queue, plus the beat scheduler, when the ASGI application is loaded. The
tasks are the very ones that production runs on separate `celery worker` processes.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_running: EmbeddedWorkers | None = None


@dataclass
class EmbeddedWorkers:
    """The worker and beat running in this process, and their threads."""

    worker: object
    worker_thread: threading.Thread
    beat: object | None

    def stop(self, timeout: float = 10.0) -> None:
        """Stops beat and the worker (waiting up to ``timeout`` seconds for running tasks)."""
        if self.beat is not None:
            self.beat.stop()
        self.worker.stop(in_sighandler=False)
        self.worker_thread.join(timeout)


class _Worker:
    """Celery's WorkController without the process-wide signal handlers (threads cannot install
    them), reporting when its consumer is ready."""

    @staticmethod
    def build(app, concurrency: int):
        from celery.worker import WorkController

        class Controller(WorkController):
            def __init__(self, *args, **kwargs):
                self.ready = threading.Event()
                super().__init__(*args, **kwargs)

            def on_consumer_ready(self, consumer):
                self.ready.set()

        queues = sorted({settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_INFERENCE_QUEUE})
        return Controller(app=app, hostname="embedded@%h", pool="threads", concurrency=concurrency,
                          queues=queues, without_heartbeat=True, without_mingle=True, without_gossip=True,
                          ready_callback=None)


def start(concurrency: int | None = None, with_beat: bool = True, timeout: float = 30.0) -> EmbeddedWorkers | None:
    """Starts the in-process worker (and beat) once per process; returns them, or None when the
    broker is not in-memory (real workers consume from Redis then) or they already run."""
    global _running
    if not settings.CELERY_EMBEDDED:
        return None
    with _lock:
        if _running is not None:
            return None
        from celery.beat import EmbeddedService

        from aimonitor.celery import app

        worker = _Worker.build(app, concurrency or settings.EMBEDDED_WORKER_CONCURRENCY)
        thread = threading.Thread(target=worker.start, name="celery-embedded-worker", daemon=True)
        thread.start()
        if not worker.ready.wait(timeout):
            raise RuntimeError("the embedded Celery worker did not start")
        beat = None
        if with_beat:
            beat = EmbeddedService(app, thread=True, schedule_filename=str(settings.VAR_DIR / "celerybeat-schedule"))
            beat.start()
        _running = EmbeddedWorkers(worker=worker, worker_thread=thread, beat=beat)
        logger.info("Embedded Celery worker (threads x%s) and beat started", worker.concurrency)
        return _running


def stop() -> None:
    """Stops what :func:`start` started (tests; the server simply exits)."""
    global _running
    with _lock:
        if _running is not None:
            _running.stop()
            _running = None
