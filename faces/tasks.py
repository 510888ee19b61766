"""Celery tasks of the face library: thin wrappers that take ids and call ``faces.services``."""
from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(autoretry_for=(OperationalError,), max_retries=3, retry_backoff=True, retry_jitter=True,
             acks_late=True)
def run_import(import_id: int) -> dict | None:
    """Runs a batch import (a zip of face images) stored as FaceImport ``import_id``; a job that is gone
    or already claimed is left alone."""
    job = services.run_import(import_id)
    return None if job is None else {"import_id": job.pk, "status": job.status, "successful": job.successful,
                                     "failed": job.failed}
