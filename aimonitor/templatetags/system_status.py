"""Template tags for the admin dashboard: the GPUs the workers sampled, queues and task counts."""
from __future__ import annotations

import logging

from django import template

register = template.Library()
logger = logging.getLogger(__name__)


@register.simple_tag
def system_status() -> dict:
    """What the admin index shows; never breaks the page (a failing part reads as unavailable)."""
    from aimonitor.system import services

    status = {"gpus": None, "tasks": None, "queues": None}
    try:
        status["gpus"] = services.gpu_overview()
        status["tasks"] = services.task_counts()["monitor_tasks"]
        status["queues"] = services.queue_lengths()
    except Exception:  # noqa: BLE001
        logger.warning("Admin dashboard status failed", exc_info=True)
    return status


@register.filter
def gib(value) -> str:
    return "-" if value is None else f"{value / 2**30:.1f} GiB"
