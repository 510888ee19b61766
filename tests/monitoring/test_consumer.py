"""``/ws/monitor-tasks/{id}/``: refused without a valid token or permission; forwards the task's pushes."""
from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from aimonitor.asgi import application
from aimonitor.live import broadcast, task_group
from streams.models import StreamGroup
from tests.monitoring.factories import make_stream, make_task

pytestmark = pytest.mark.django_db(transaction=True)


def token_for(user, lifetime: timedelta | None = None) -> str:
    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


async def connect(task_id: int, token: str | None):
    path = f"/ws/monitor-tasks/{task_id}/" + (f"?token={token}" if token is not None else "")
    communicator = WebsocketCommunicator(application, path, headers=[(b"origin", b"http://localhost")])
    connected, code = await communicator.connect()
    return communicator, connected, code


def run(coro):
    from asgiref.sync import async_to_sync

    return async_to_sync(coro)()


@pytest.mark.parametrize(("token", "code"), [(None, 4401), ("garbage", 4401), ("expired", 4401)])
def test_connection_without_a_valid_token_is_refused(make_user, token, code):
    task = make_task()
    user = make_user("viewer")
    raw = token_for(user, timedelta(seconds=-5)) if token == "expired" else token

    async def scenario():
        communicator, connected, close_code = await connect(task.pk, raw)
        await communicator.disconnect()
        return connected, close_code

    assert run(scenario) == (False, code)


def test_a_user_who_may_not_see_the_task_is_refused_and_an_unknown_task_too(make_user):
    group = StreamGroup.objects.create(name="North")
    outsider = make_user("viewer")
    group.members.add(outsider)
    task = make_task(stream=make_stream("Elsewhere"))

    async def scenario():
        results = []
        for task_id in (task.pk, 999999):
            communicator, connected, close_code = await connect(task_id, token_for(outsider))
            await communicator.disconnect()
            results.append((connected, close_code))
        return results

    assert run(scenario) == [(False, 4403), (False, 4404)]


def test_a_viewer_receives_status_detection_and_alert_pushes_for_that_task_only(make_user):
    task, other = make_task("watched"), make_task("other")
    viewer = make_user("viewer")

    async def scenario():
        communicator, connected, _ = await connect(task.pk, token_for(viewer))
        assert connected
        await sync_to_async(broadcast)(task_group(other.pk), {"type": "task.status", "id": other.pk})
        await sync_to_async(broadcast)(task_group(task.pk), {"type": "task.status", "id": task.pk, "status": "running"})
        await sync_to_async(broadcast)(task_group(task.pk), {"type": "alert.created", "alert": {"id": 7}})
        first = await communicator.receive_json_from(timeout=5)
        second = await communicator.receive_json_from(timeout=5)
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.send_json_to({"type": "ping"})
        pong = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return first, second, pong

    first, second, pong = run(scenario)
    assert first == {"type": "task.status", "id": task.pk, "status": "running"}
    assert second == {"type": "alert.created", "alert": {"id": 7}}
    assert pong == {"type": "pong"}
