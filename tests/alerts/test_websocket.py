"""The /ws/alerts/ feed through the project's real ASGI application (JWT middleware, origin check,
router) with WebsocketCommunicator: refusals, delivery, visibility, filters, ping/pong, expiry."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from aimonitor.asgi import application
from alerts import services
from tests.media import bus_image

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://localhost")]


def token_for(user, seconds: float | None = None) -> str:
    token = AccessToken.for_user(user)
    if seconds is not None:
        token.set_exp(lifetime=timedelta(seconds=seconds))
    return str(token)


def communicator(query: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/alerts/?{query}", headers=ORIGIN)


def run(scenario):
    """Runs an async scenario to completion on a fresh event loop."""
    async_to_sync(scenario)()


async def connect(query: str):
    ws = communicator(query)
    connected, code = await ws.connect(timeout=5)
    assert connected, code
    return ws


async def raise_on(stream, level="warning", **kwargs):
    return await database_sync_to_async(services.raise_alert)(
        alert_type="intrusion_detection", level=level, detections=[], frame=None, stream=stream, **kwargs)


@pytest.mark.parametrize("query", ["", "token=", "token=not-a-jwt", "token=eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_refuses_missing_or_bad_tokens(query):
    async def scenario():
        connected, code = await communicator(query).connect(timeout=5)
        assert (connected, code) == (False, 4401)

    run(scenario)


def test_refuses_an_expired_token(make_user):
    raw = token_for(make_user("viewer"), seconds=-5)

    async def scenario():
        assert await communicator(f"token={raw}").connect(timeout=5) == (False, 4401)

    run(scenario)


def test_refuses_a_user_without_a_role(make_user):
    raw = token_for(make_user(None))

    async def scenario():
        assert await communicator(f"token={raw}").connect(timeout=5) == (False, 4403)

    run(scenario)


def test_refuses_a_foreign_origin(make_user):
    raw = token_for(make_user("viewer"))

    async def scenario():
        ws = WebsocketCommunicator(application, f"/ws/alerts/?token={raw}", headers=[(b"origin", b"http://evil.example")])
        connected, _ = await ws.connect(timeout=5)
        assert not connected

    run(scenario)


def test_viewer_receives_created_and_updated_alerts(make_user, make_stream):
    viewer, operator = make_user("viewer"), make_user("operator")
    stream = make_stream("Dock")

    async def scenario():
        ws = await connect(f"token={token_for(viewer)}")
        alert = await database_sync_to_async(services.raise_alert)(
            alert_type="intrusion_detection", level="critical", frame=bus_image(), stream=stream,
            detections=[{"class": "person", "class_id": 0, "confidence": 0.9, "bbox": [50, 400, 245, 905]}])
        created = await ws.receive_json_from(timeout=2)
        assert created["type"] == "alert.created"
        assert created["alert"]["id"] == alert.pk and created["alert"]["level"] == "critical"
        assert created["alert"]["stream"] == {"id": stream.pk, "name": "Dock"}
        assert created["alert"]["snapshot_url"].startswith("/media/snapshots/")

        await database_sync_to_async(services.process_alert)(alert, operator, "processed", "handled")
        updated = await ws.receive_json_from(timeout=2)
        assert updated["type"] == "alert.updated"
        assert updated["alert"]["status"] == "processed" and updated["alert"]["notes"] == "handled"
        assert updated["alert"]["processed_by"]["username"] == operator.username
        assert await ws.receive_nothing(timeout=0.2)
        await ws.disconnect()

    run(scenario)


def test_group_members_receive_only_their_groups_alerts(make_user, make_stream):
    member = make_user("viewer", "north-viewer")
    north = make_stream("North door", group="North", members=[member])
    south = make_stream("South door", group="South")

    async def scenario():
        ws = await connect(f"token={token_for(member)}")
        await raise_on(south)
        await raise_on(None)
        mine = await raise_on(north)
        received = await ws.receive_json_from(timeout=2)
        assert received["alert"]["id"] == mine.pk
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    run(scenario)


def test_a_member_removed_from_a_group_stops_receiving(make_user, make_stream, settings):
    settings.ALERTS_WS_VISIBILITY_TTL = 0  # re-check the assignment for every message
    member = make_user("viewer", "leaver")
    north = make_stream("North door", group="North", members=[member])
    make_stream("Elsewhere", group="Elsewhere", members=[member])

    async def scenario():
        ws = await connect(f"token={token_for(member)}")
        await raise_on(north)
        assert (await ws.receive_json_from(timeout=2))["type"] == "alert.created"
        await database_sync_to_async(lambda: north.groups.first().members.remove(member))()
        await raise_on(north)
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    run(scenario)


def test_client_filters_by_level_and_stream(make_user, make_stream):
    viewer = make_user("viewer")
    dock, yard = make_stream("Dock"), make_stream("Yard")

    async def scenario():
        ws = await connect(f"token={token_for(viewer)}&levels=critical")
        await raise_on(dock, "warning")
        wanted = await raise_on(dock, "critical")
        assert (await ws.receive_json_from(timeout=2))["alert"]["id"] == wanted.pk
        assert await ws.receive_nothing(timeout=0.2)

        await ws.send_json_to({"type": "subscribe", "streams": [yard.pk], "levels": None})
        assert await ws.receive_json_from(timeout=2) == {"type": "subscribed", "streams": [yard.pk], "levels": None}
        await raise_on(dock, "critical")
        on_yard = await raise_on(yard, "info")
        assert (await ws.receive_json_from(timeout=2))["alert"]["id"] == on_yard.pk
        assert await ws.receive_nothing(timeout=0.2)
        await ws.disconnect()

    run(scenario)


def test_bad_client_messages_get_an_error_and_the_socket_stays_open(make_user):
    viewer = make_user("viewer")

    async def scenario():
        ws = await connect(f"token={token_for(viewer)}")
        await ws.send_to(text_data="{not json")
        assert (await ws.receive_json_from(timeout=2))["type"] == "error"
        await ws.send_json_to({"type": "subscribe", "levels": ["urgent"]})
        error = await ws.receive_json_from(timeout=2)
        assert error["type"] == "error" and "urgent" in error["detail"]
        await ws.send_json_to({"type": "subscribe", "streams": "all"})
        assert (await ws.receive_json_from(timeout=2))["type"] == "error"
        await ws.send_json_to({"type": "ping"})
        pong = await ws.receive_json_from(timeout=2)
        assert pong["type"] == "pong" and pong["time"] > 0
        await ws.disconnect()

    run(scenario)


def test_bad_filters_on_the_url_refuse_the_connection(make_user):
    raw = token_for(make_user("viewer"))

    async def scenario():
        assert await communicator(f"token={raw}&levels=urgent").connect(timeout=5) == (False, 4400)

    run(scenario)


def test_server_heartbeat(make_user, settings):
    settings.ALERTS_WS_HEARTBEAT_SECONDS = 0.2
    viewer = make_user("viewer")

    async def scenario():
        ws = await connect(f"token={token_for(viewer)}")
        assert (await ws.receive_json_from(timeout=2))["type"] == "ping"
        await ws.disconnect()

    run(scenario)


def test_socket_closes_when_the_token_expires(make_user, settings):
    settings.ALERTS_WS_HEARTBEAT_SECONDS = 0
    viewer = make_user("viewer")
    raw = token_for(viewer, seconds=3)

    async def scenario():
        ws = await connect(f"token={raw}")
        assert await ws.receive_nothing(timeout=0.5)
        notice = await ws.receive_json_from(timeout=4)
        assert notice["type"] == "token.expired"
        closed = await ws.receive_output(timeout=2)
        assert closed == {"type": "websocket.close", "code": 4401}
        await asyncio.sleep(0)

    run(scenario)


def test_a_socket_idle_longer_than_the_channel_layer_poll_still_receives(make_user, make_stream, settings):
    """Regression: with channels-redis on redis-py 8, a consumer idle for 5 s died ("Timeout reading")
    because the socket timeout equalled the blocking pop's."""
    settings.ALERTS_WS_HEARTBEAT_SECONDS = 0
    viewer = make_user("viewer")
    stream = make_stream("Quiet corner")

    async def scenario():
        ws = await connect(f"token={token_for(viewer)}")
        assert await ws.receive_nothing(timeout=6.5)
        alert = await raise_on(stream)
        assert (await ws.receive_json_from(timeout=3))["alert"]["id"] == alert.pk
        await ws.disconnect()

    run(scenario)
