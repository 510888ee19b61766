"""What every Celery worker process of the project does around its life, beside running tasks:

- at start: refuse to run when ``INFERENCE_DEVICE`` names a GPU that is not there (a clear message
  and a non-zero exit, not a worker that fails every frame later), and drop metric files of dead
  processes;
- once ready: sample this host's GPUs into the cache every ``GPU_SAMPLE_SECONDS``;
- when a pool child exits: forget its live metric values;
- Celery's own log handlers get the credential redaction like the project's.

These are process-lifecycle hooks (observability and start-up checks), not business flow.
"""
from __future__ import annotations

import logging
import os
import sys

from celery import signals

logger = logging.getLogger(__name__)


@signals.worker_init.connect
def check_device_and_metrics(**_kwargs) -> None:
    from django.conf import settings

    from aimonitor import gpu, metrics

    metrics.prune_dead_process_files()
    if not settings.WORKER_REQUIRE_DEVICE:
        return
    try:
        device = gpu.require_device(settings.INFERENCE_DEVICE)
    except gpu.DeviceUnavailable as exc:
        message = f"aimonitor: refusing to start the worker: {exc}"
        logger.critical(message)
        print(message, file=sys.stderr, flush=True)
        # SystemExit, not an exception: Celery logs and swallows exceptions from signal handlers.
        raise SystemExit(2) from exc
    logger.info("Worker inference device: %s (INFERENCE_DEVICE=%s)", device, settings.INFERENCE_DEVICE)


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def redact_celery_log_handlers(logger=None, **_kwargs) -> None:
    """Celery adds its own handlers (``--logfile``, the console); they redact credentials too."""
    from aimonitor.logging import RedactingFilter

    for target in {logger, logging.getLogger()} - {None}:
        for handler in target.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())


@signals.worker_ready.connect
def start_gpu_sampler(**_kwargs) -> None:
    from aimonitor import gpu

    gpu.start_sampler()


@signals.worker_shutdown.connect
def stop_gpu_sampler(**_kwargs) -> None:
    from aimonitor import gpu

    gpu.stop_sampler()


@signals.worker_process_shutdown.connect
def forget_pool_child(pid=None, **_kwargs) -> None:
    from aimonitor import metrics

    metrics.mark_process_dead(pid or os.getpid())
