"""The Celery app. With REDIS_URL the broker is Redis and workers are separate processes
(`celery -A aimonitor worker`, GPU hosts with `-Q inference`); without it the broker is in-memory
and the server process runs the workers itself (see aimonitor.embedded)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimonitor.settings")

app = Celery("aimonitor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Start-up device check, GPU sampling and metric bookkeeping of every worker process.
import aimonitor.worker  # noqa: E402,F401
