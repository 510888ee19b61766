"""AIMonitor: the Django project package (settings, routing, the Celery app, shared API pieces)."""
from .celery import app as celery_app

__all__ = ("celery_app",)
