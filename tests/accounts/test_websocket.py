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
