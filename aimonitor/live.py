"""Live updates: the one helper that sends typed payloads to the channel layer, and the group names.

Consumers join one group per scope: the alerts feed, one monitoring task, one stream, one user.
Senders call :func:`broadcast` (after the database transaction commits, via ``transaction.on_commit``).
"""
from __future__ import annotations

import logging
from typing import Any, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


class LiveMessage(TypedDict, total=False):
    """What every pushed message carries: ``type`` (e.g. ``alert.created``) plus its payload."""

    type: str


ALERTS_GROUP = "alerts"


def task_group(task_id: int) -> str:
    return f"monitor-task.{task_id}"


def stream_group(stream_id: int) -> str:
    return f"stream.{stream_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def broadcast(group: str, message: dict[str, Any]) -> None:
    """Sends ``message`` to every consumer in ``group``. Never raises: a push that fails (a full or
    unreachable channel layer) is logged, because the data it announces is already committed and
    clients catch up through the API."""
    layer = get_channel_layer()
    if layer is None:
        return
    # Consumers receive the payload in a "live.message" event and forward its "payload" as is.
    event = {"type": "live.message", "payload": message}
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:  # noqa: BLE001
        logger.warning("Live push to %s failed", group, exc_info=True)
