"""Celery tasks of the algorithms app: thin wrappers that take ids and call services.

``load_algorithm_task`` and ``export_task`` are sent to the inference queue
(``CELERY_INFERENCE_QUEUE``), where the GPU workers listen. The ``unload_algorithm`` remote-control
command lets ``stop`` reach every worker, not only the one that would take a queued task.
"""
from __future__ import annotations

from celery import shared_task
from celery.worker.control import control_command
from django.db import OperationalError

from . import engine, services


@shared_task(name="algorithms.load", autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True,
             retry_jitter=True)
def load_algorithm_task(algorithm_id: int) -> str | None:
    """Loads the algorithm's model on this inference worker and marks it running (or error)."""
    return services.load_on_this_worker(algorithm_id)


@shared_task(name="algorithms.export", autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True,
             retry_jitter=True, acks_late=True)
def export_task(job_id: int) -> str | None:
    """Runs one export job; a second delivery of the same job finds it claimed and does nothing."""
    return services.run_export(job_id)


@control_command(args=[("algorithm_id", int)], signature="<algorithm_id>")
def unload_algorithm(state, algorithm_id: int) -> dict:
    """Remote control: drop an algorithm's model from this worker (``stop`` broadcasts it)."""
    return {"ok": f"unloaded={engine.unload(algorithm_id)}"}
