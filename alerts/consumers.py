"""The live alerts feed: ``/ws/alerts/?token=<access token>``.

On connect the consumer checks the JWT user (put into the scope by ``accounts.websocket``) and refuses
anonymous, expired or role-less users. It then forwards ``alert.created`` / ``alert.updated`` pushes
from the alerts group, each one only if the user may see that alert's stream (stream groups) and it
passes the client's optional filters. Clients may send::

    {"type": "ping"}                                        -> {"type": "pong", "time": ...}
    {"type": "subscribe", "streams": [1, 2] | null, "levels": ["critical"] | null}
                                                            -> {"type": "subscribed", ...}

The same filters may be given on the URL (``&streams=1,2&levels=warning,critical``). The server
closes the socket with code 4401 when the access token expires; the client logs in again, reconnects
and catches up with ``GET /api/alerts/?since_id=<last id seen>``.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.apps import apps
from django.conf import settings

from accounts.permissions import role_level
from aimonitor.api.scoping import visible_group_ids
from aimonitor.live import ALERTS_GROUP

from .choices import AlertLevel

CLOSE_UNAUTHORISED = 4401  # no, bad or expired token
CLOSE_FORBIDDEN = 4403  # a user without any role


class FilterError(ValueError):
    pass


def parse_filters(streams, levels) -> tuple[set[int] | None, set[str] | None]:
    """Validates the client's filters: stream ids and level names, or None for "all"."""
    if streams is not None:
        if isinstance(streams, str):
            streams = [s for s in streams.split(",") if s.strip()]
        if not isinstance(streams, list):
            raise FilterError("streams must be a list of stream ids or null")
        try:
            streams = {int(s) for s in streams if not isinstance(s, bool)} if streams else set()
        except (TypeError, ValueError):
            raise FilterError("streams must be a list of stream ids or null")
    if levels is not None:
        if isinstance(levels, str):
            levels = [s.strip() for s in levels.split(",") if s.strip()]
        if not isinstance(levels, list) or not all(isinstance(level, str) for level in levels):
            raise FilterError("levels must be a list of level names or null")
        unknown = sorted(set(levels) - set(AlertLevel.values))
        if unknown:
            raise FilterError(f"unknown levels {unknown}; choose from {AlertLevel.values}")
        levels = set(levels)
    return streams, levels


class AlertsConsumer(AsyncJsonWebsocketConsumer):
    """One browser (or client) following the alerts it may see."""

    async def connect(self):
        user = self.scope.get("user")
        expires = self.scope.get("token_exp")
        if user is None or not user.is_authenticated or not expires or expires <= time.time():
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        self.user = user
        if await database_sync_to_async(role_level)(user) < 1:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.streams, self.levels = parse_filters((query.get("streams") or [None])[0],
                                                      (query.get("levels") or [None])[0])
        except FilterError:
            await self.close(code=4400)
            return
        await self._refresh_visibility()
        await self.channel_layer.group_add(ALERTS_GROUP, self.channel_name)
        await self.accept()
        self.watchdog = asyncio.ensure_future(self._close_at_expiry(expires))
        interval = settings.ALERTS_WS_HEARTBEAT_SECONDS
        self.heartbeat = asyncio.ensure_future(self._heartbeat(interval)) if interval > 0 else None

    async def disconnect(self, code):
        for name in ("watchdog", "heartbeat"):
            job = getattr(self, name, None)
            if job is not None and job is not asyncio.current_task():
                job.cancel()
        if hasattr(self, "user"):
            await self.channel_layer.group_discard(ALERTS_GROUP, self.channel_name)

    async def _close_at_expiry(self, expires: float):
        await asyncio.sleep(max(0.0, expires - time.time()))
        with contextlib.suppress(Exception):
            await self.send_json({"type": "token.expired",
                                  "detail": "The access token expired; reconnect with a new one."})
        await self.close(code=CLOSE_UNAUTHORISED)

    async def _heartbeat(self, interval: float):
        # Keeps idle connections alive through proxies (nginx closes them after 60 s of silence).
        while True:
            await asyncio.sleep(interval)
            await self.send_json({"type": "ping", "time": time.time()})

    # --- from the client ---

    @classmethod
    async def decode_json(cls, text_data):
        import json

        try:
            return json.loads(text_data)
        except ValueError:
            return {"type": "__invalid__"}

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong", "time": time.time()})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            try:
                self.streams, self.levels = parse_filters(content.get("streams"), content.get("levels"))
            except FilterError as exc:
                await self.send_json({"type": "error", "code": "invalid", "detail": str(exc)})
                return
            await self.send_json({"type": "subscribed",
                                  "streams": sorted(self.streams) if self.streams is not None else None,
                                  "levels": sorted(self.levels) if self.levels is not None else None})
        else:
            await self.send_json({"type": "error", "code": "invalid",
                                  "detail": "Send JSON with type ping or subscribe."})

    # --- from the channel layer ---

    async def live_message(self, event):
        payload = event.get("payload") or {}
        alert = payload.get("alert")
        if not isinstance(alert, dict):
            return  # this feed forwards alerts only
        stream_id = (alert.get("stream") or {}).get("id")
        if self.levels is not None and alert.get("level") not in self.levels:
            return
        if self.streams is not None and stream_id not in self.streams:
            return
        if not await self._may_see(stream_id):
            return
        await self.send_json(payload)

    # --- visibility ---

    async def _refresh_visibility(self):
        self.user.__dict__.pop("_visible_group_ids", None)
        self.group_ids = await database_sync_to_async(visible_group_ids)(self.user)
        self.stream_visible: dict[int, bool] = {}
        self.visibility_at = time.monotonic()

    async def _may_see(self, stream_id: int | None) -> bool:
        """Whether the user may see an alert on this stream. Group assignments are re-read every
        ``ALERTS_WS_VISIBILITY_TTL`` seconds, so a change reaches open sockets within that time."""
        if time.monotonic() - self.visibility_at >= settings.ALERTS_WS_VISIBILITY_TTL:
            await self._refresh_visibility()
        if self.group_ids is None:
            return True
        if stream_id is None:
            return False
        if stream_id not in self.stream_visible:
            self.stream_visible[stream_id] = await database_sync_to_async(self._stream_in_groups)(stream_id)
        return self.stream_visible[stream_id]

    def _stream_in_groups(self, stream_id: int) -> bool:
        VideoStream = apps.get_model("streams", "VideoStream")
        return VideoStream.objects.filter(id=stream_id, groups__in=self.group_ids).exists()
