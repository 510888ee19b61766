"""WebSocket routes of accounts."""
from django.urls import re_path

from . import consumers

websocket_urlpatterns = [
    re_path(r"^ws/session/?$", consumers.SessionConsumer.as_asgi()),
]
