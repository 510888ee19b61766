"""/ws/streams/<id>/: status pushes reach only authenticated users who may see the stream."""
from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from aimonitor.asgi import application
from streams import services
from streams.models import StreamGroup, VideoStream

pytestmark = pytest.mark.django_db(transaction=True)


def token_for(user, lifetime: timedelta | None = None) -> str:
    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def connect(stream_id, token=None):
    path = f"/ws/streams/{stream_id}/" + (f"?token={token}" if token else "")
    return WebsocketCommunicator(application, path, headers=[(b"host", b"localhost"), (b"origin", b"http://localhost")])


def make_stream(name="cam", group=None):
    stream = VideoStream.objects.create(name=name, url="rtsp://10.0.0.1/live")
    if group is not None:
        stream.groups.add(group)
    return stream


def refused_with(stream_id, token) -> int | None:
    async def scenario():
        communicator = connect(stream_id, token)
        connected, code = await communicator.connect()
        if connected:
            await communicator.disconnect()
            return None
        return code

    return async_to_sync(scenario)()


def test_no_token_and_bad_token_are_refused():
    stream = make_stream()
    assert refused_with(stream.pk, None) == 4401
    assert refused_with(stream.pk, "not-a-jwt") == 4401


def test_expired_token_is_refused(make_user):
    stream = make_stream()
    assert refused_with(stream.pk, token_for(make_user("viewer"), timedelta(seconds=-5))) == 4401


def test_viewer_receives_status_changes_of_the_stream(make_user):
    token = token_for(make_user("viewer"))
    stream = make_stream()
    # Outside an atomic block on_commit runs at once, as in a worker.
    push = database_sync_to_async(lambda status: services.set_stream_status(stream.pk, status, ""))

    async def scenario():
        communicator = connect(stream.pk, token)
        connected, _ = await communicator.connect()
        assert connected
        assert await push("online") is True
        message = await communicator.receive_json_from(timeout=3)
        assert message["type"] == "stream.status" and message["status"] == "online"
        assert message["stream_id"] == stream.pk
        assert await push("online") is False  # no change, no push
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from(timeout=3) == {"type": "pong"}
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_user_limited_to_other_groups_cannot_subscribe(make_user):
    user = make_user("viewer")
    mine, other = StreamGroup.objects.create(name="Mine"), StreamGroup.objects.create(name="Other")
    mine.members.add(user)
    hidden, visible = make_stream("hidden", other), make_stream("visible", mine)
    assert refused_with(hidden.pk, token_for(user)) == 4403
    assert refused_with(visible.pk, token_for(user)) is None


def test_unknown_stream_is_refused_like_a_hidden_one(make_user):
    assert refused_with(987654, token_for(make_user("viewer"))) == 4403
