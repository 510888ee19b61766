"""``/ws/monitor-tasks/{id}/?token=<access token>``: one task's live feed.

Pushes ``task.status`` (every heartbeat), ``detection`` (throttled, for overlay drawing) and
``alert.created`` for that task. A missing, expired or wrong token, an unknown task, or a user who
may not see the task's stream: the connection is refused. Every forwarded message re-checks that the
token has not expired since the connection opened.
"""
from __future__ import annotations

import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from aimonitor.api.scoping import user_may_see_stream
from aimonitor.live import task_group

# WebSocket close codes (4000-4999 are the application's): why a connection was refused.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


@database_sync_to_async
def _may_see_task(user, task_id: int) -> bool | None:
    """None: no such task; else whether ``user`` may see it."""
    from .models import MonitorTask

    stream_id = MonitorTask.objects.filter(pk=task_id).values_list("stream_id", flat=True).first()
    if stream_id is None:
        return None
    return user_may_see_stream(user, stream_id)


class MonitorTaskConsumer(AsyncJsonWebsocketConsumer):
    """Forwards one monitoring task's live messages to an authenticated viewer of its stream."""

    group: str | None = None

    def _token_valid(self) -> bool:
        exp = self.scope.get("token_exp")
        return exp is not None and exp > time.time()

    async def connect(self):
        user = self.scope.get("user")
        task_id = int(self.scope["url_route"]["kwargs"]["task_id"])
        if user is None or not user.is_authenticated or not self._token_valid():
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        allowed = await _may_see_task(user, task_id)
        if allowed is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if not allowed:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = task_group(task_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # The feed is one-way; a ping keeps proxies from closing an idle connection.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def live_message(self, event):
        if not self._token_valid():
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.send_json(event["payload"])
