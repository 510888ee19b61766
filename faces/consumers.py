"""WebSocket consumer for batch-import progress: ``/ws/faces/imports/{id}/?token=<access token>``.

Operators and admins, and the user who started the import, may follow it. On connect the consumer
sends the current progress, then forwards every ``faces.import.progress`` message; it closes when
the access token expires.
"""
from __future__ import annotations

import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.permissions import role_level

from .models import FaceImport
from .services import import_group, import_progress

OPERATOR_LEVEL = 2


@database_sync_to_async
def _progress_for(user, import_id: int) -> tuple[int, dict | None]:
    """(close code or 0, current progress) for ``user`` asking to follow ``import_id``."""
    job = FaceImport.objects.filter(pk=import_id).first()
    if job is None:
        return 4404, None
    if role_level(user) < OPERATOR_LEVEL and job.created_by_id != user.pk:
        return 4403, None
    return 0, import_progress(job)


class ImportProgressConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        import_id = int(self.scope["url_route"]["kwargs"]["import_id"])
        refusal, progress = await _progress_for(user, import_id)
        if refusal:
            await self.close(code=refusal)
            return
        self.group = import_group(import_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(progress)

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def live_message(self, event):
        expires = self.scope.get("token_exp")
        if expires is not None and expires < time.time():
            await self.close(code=4401)
            return
        await self.send_json(event["payload"])
