"""The embedded mode's Celery worker: with no REDIS_URL the broker is in-memory, so the server process
runs the workers itself. One Celery worker with the threads pool consumes the default and inference
queues inside this process, and a timer sends the reconcile task (what ``celery beat`` does in
production). The very same tasks run in both modes; only the transport differs.
"""
from __future__ import annotations

import logging
import socket
import threading

from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_state: dict = {}


def start() -> bool:
    """Starts the in-process worker and the reconcile timer once per process; returns whether it
    started them now. Does nothing outside the embedded mode."""
    if not settings.CELERY_EMBEDDED:
        return False
    with _lock:
        if _state:
            return False
        from celery.worker import WorkController

        from aimonitor.celery import app

        app.finalize()
        app.set_current()
        app.set_default()
        worker = WorkController(
            app=app, hostname=f"embedded@{socket.gethostname()}", pool="threads",
            concurrency=settings.EMBEDDED_WORKER_THREADS,
            queues=[settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_INFERENCE_QUEUE],
            without_heartbeat=True, without_mingle=True, without_gossip=True, loglevel="INFO")
        thread = threading.Thread(target=worker.start, name="celery-embedded", daemon=True)
        stop = threading.Event()
        timer = threading.Thread(target=_beat, args=(app, stop), name="celery-embedded-beat", daemon=True)
        _state.update(worker=worker, thread=thread, stop=stop, timer=timer)
        thread.start()
        timer.start()
    logger.info("Embedded Celery worker started (%s threads)", settings.EMBEDDED_WORKER_THREADS)
    return True


def _beat(app, stop: threading.Event) -> None:
    """Sends every periodic task of CELERY_BEAT_SCHEDULE at its interval (seconds-based entries)."""
    entries = [(entry["task"], float(entry["schedule"])) for entry in settings.CELERY_BEAT_SCHEDULE.values()
               if isinstance(entry.get("schedule"), (int, float))]
    if not entries:
        return
    due = {name: 0.0 for name, _ in entries}
    elapsed = 0.0
    tick = min(interval for _, interval in entries)
    while not stop.wait(0 if elapsed == 0 else tick):
        for name, interval in entries:
            if elapsed >= due[name]:
                app.send_task(name)
                due[name] = elapsed + interval
        elapsed += tick


def stop(timeout: float = 15.0) -> None:
    """Stops the worker (its running loops release their tasks) and the timer."""
    with _lock:
        state = dict(_state)
        _state.clear()
    if not state:
        return
    from celery.signals import worker_shutting_down

    state["stop"].set()
    # The same path as a SIGTERM on a real worker: loops end and hand their tasks back.
    worker_shutting_down.send(sender=state["worker"].hostname, sig="SIGTERM", how="Warm", exitcode=0)
    state["worker"].stop(in_sighandler=False)
    state["thread"].join(timeout)


def running() -> bool:
    return bool(_state)
