"""The session WebSocket (``/ws/session``): who the token says you are and when it expires.

A client opens it to check its token and the live connection before subscribing to the apps'
channels; it is also the connection on which the server pushes messages meant for one user
(``aimonitor.live.user_group``).
"""
from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from aimonitor.live import user_group

# Close codes in the 4000 range are the application's own: 4401 is "authenticate first".
CLOSE_UNAUTHENTICATED = 4401


class SessionConsumer(AsyncJsonWebsocketConsumer):
    """Refuses anonymous connections; greets a signed-in user and forwards its personal messages."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        roles = await database_sync_to_async(lambda: user.role_codes)()
        await self.send_json({"type": "session", "user": {"id": user.pk, "username": user.get_username(),
                                                          "roles": roles},
                              "token_exp": self.scope.get("token_exp")})

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def live_message(self, event):
        await self.send_json(event["payload"])
