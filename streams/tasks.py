"""Celery tasks of the streams app."""
from __future__ import annotations

# --- Monitoring tasks (the worker loop and the reconcile) -----------------------------------------
from celery import shared_task
from celery.signals import worker_init, worker_shutdown, worker_shutting_down
from django.db import InterfaceError, OperationalError


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
