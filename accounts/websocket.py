"""WebSocket authentication: an access token in the query string (``?token=...``).

Browsers cannot set headers on a WebSocket handshake, so the token travels in the URL; it is never
logged. A missing, expired or wrong token leaves the scope's user anonymous, and consumers refuse
anonymous connections.
"""
from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken


@database_sync_to_async
def user_for_token(raw: str):
    from .models import User

    try:
        token = AccessToken(raw)
    except TokenError:
        return AnonymousUser(), None
    user = User.objects.filter(pk=token.get("user_id"), is_active=True).prefetch_related("roles").first()
    if user is None:
        return AnonymousUser(), None
    return user, int(token["exp"])


class JWTAuthMiddleware:
    """Puts ``user`` and ``token_exp`` (unix time) into the scope from ``?token=``."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode())
        raw = (query.get("token") or [""])[0]
        user, exp = (await user_for_token(raw)) if raw else (AnonymousUser(), None)
        scope = dict(scope, user=user, token_exp=exp)
        return await self.inner(scope, receive, send)
