"""WebSocket consumer for one camera's live status: ``/ws/streams/<id>/?token=<access token>``.

It refuses anonymous or expired tokens (close 4401) and users who may not see the stream (4403, also
for an unknown stream, so ids do not leak), joins the stream's group and forwards each
``stream.status`` payload while the token is still valid.
"""
from __future__ import annotations

import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from aimonitor.api.scoping import user_may_see_stream
from aimonitor.live import stream_group

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


@database_sync_to_async
def _may_see(user, stream_id: int) -> bool:
    from .models import VideoStream

    return VideoStream.objects.filter(pk=stream_id).exists() and user_may_see_stream(user, stream_id)


class StreamStatusConsumer(AsyncJsonWebsocketConsumer):
    """Pushes a stream's status changes to one subscriber."""

    group_name: str | None = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or self._expired():
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.stream_id = int(self.scope["url_route"]["kwargs"]["stream_id"])
        if not await _may_see(user, self.stream_id):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group_name = stream_group(self.stream_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def live_message(self, event):
        # The token may expire while the socket stays open: stop forwarding then.
        if self._expired():
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.send_json(event["payload"])

    def _expired(self) -> bool:
        exp = self.scope.get("token_exp")
        return exp is not None and exp <= time.time()
