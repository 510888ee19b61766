"""Hooks for the production servers: gunicorn's logger that redacts credentials, and the process
bookkeeping of the Prometheus multi-process folder (see ``deploy/gunicorn.conf.py``)."""
from __future__ import annotations

from gunicorn.glogging import Logger

from aimonitor.logging import RedactingFilter


class RedactingLogger(Logger):
    """gunicorn's logger with the project's redaction on its error and access handlers.

    UvicornWorker hands these same handlers to uvicorn, whose access and WebSocket lines carry the
    query string (``/ws/alerts/?token=...``), so the filter is what keeps tokens out of ``logs/``.
    """

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                    handler.addFilter(RedactingFilter())


def on_starting(_server) -> None:
    from aimonitor import metrics

    metrics.prune_dead_process_files()


def child_exit(_server, worker) -> None:
    from aimonitor import metrics

    metrics.mark_process_dead(worker.pid)
