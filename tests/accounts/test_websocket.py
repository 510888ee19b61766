"""The WebSocket JWT middleware: ``?token=`` -> ``scope["user"]`` and ``scope["token_exp"]``."""
from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.generic.websocket import JsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.websocket import JWTAuthMiddleware

pytestmark = pytest.mark.django_db(transaction=True)


class WhoAmI(JsonWebsocketConsumer):
    """Accepts everyone and reports who the middleware says is connected."""

    def connect(self):
        self.accept()
        user = self.scope["user"]
        self.send_json({"authenticated": user.is_authenticated,
                        "username": user.get_username() if user.is_authenticated else None,
                        "token_exp": self.scope["token_exp"]})


APP = JWTAuthMiddleware(WhoAmI.as_asgi())


def _who(query: str) -> dict:
    async def run():
        communicator = WebsocketCommunicator(APP, f"/ws/test/{query}")
        connected, _ = await communicator.connect()
        assert connected
        message = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return message

    return async_to_sync(run)()


def test_no_token_is_anonymous():
    assert _who("") == {"authenticated": False, "username": None, "token_exp": None}


def test_a_bad_token_is_anonymous():
    assert _who("?token=not-a-jwt")["authenticated"] is False


def test_an_expired_token_is_anonymous(make_user):
    token = AccessToken.for_user(make_user("viewer", "late"))
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=5))
    assert _who(f"?token={token}")["authenticated"] is False


def test_a_refresh_token_is_anonymous(make_user):
    assert _who(f"?token={RefreshToken.for_user(make_user('viewer', 'r'))}")["authenticated"] is False


def test_a_deactivated_users_token_is_anonymous(make_user):
    user = make_user("viewer", "gone")
    token = AccessToken.for_user(user)
    user.is_active = False
    user.save()
    assert _who(f"?token={token}")["authenticated"] is False


def test_a_good_token_gives_the_user_and_its_expiry(make_user):
    user = make_user("operator", "watcher")
    token = AccessToken.for_user(user)
    message = _who(f"?token={token}&other=1")
    assert message["authenticated"] is True
    assert message["username"] == "watcher"
    assert message["token_exp"] == int(token["exp"])


# --- the session socket through the project's ASGI application ----------------------------------

def _session(query: str, origin: bytes = b"http://localhost", then=None):
    from aimonitor.asgi import application

    async def run():
        communicator = WebsocketCommunicator(application, f"/ws/session{query}", headers=[(b"origin", origin)])
        connected, code = await communicator.connect()
        result = {"connected": connected, "code": code}
        if connected:
            result["hello"] = await communicator.receive_json_from(timeout=5)
            if then is not None:
                result["then"] = await then(communicator)
            await communicator.disconnect()
        return result

    return async_to_sync(run)()


def test_session_socket_refuses_anonymous_and_bad_tokens():
    assert _session("") == {"connected": False, "code": 4401}
    assert _session("?token=bad") == {"connected": False, "code": 4401}


def test_session_socket_refuses_a_foreign_origin(make_user):
    token = AccessToken.for_user(make_user("viewer", "o"))
    assert _session(f"?token={token}", origin=b"https://evil.example.com")["connected"] is False


def test_session_socket_greets_the_user_and_forwards_personal_messages(make_user):
    from aimonitor.live import broadcast, user_group

    user = make_user("operator", "live")
    token = AccessToken.for_user(user)

    async def push_and_receive(communicator):
        from channels.db import database_sync_to_async

        await database_sync_to_async(broadcast)(user_group(user.pk), {"type": "note", "text": "hi"})
        return await communicator.receive_json_from(timeout=5)

    result = _session(f"?token={token}", then=push_and_receive)
    assert result["connected"] is True
    assert result["hello"] == {"type": "session", "user": {"id": user.pk, "username": "live", "roles": ["operator"]},
                               "token_exp": int(token["exp"])}
    assert result["then"] == {"type": "note", "text": "hi"}
