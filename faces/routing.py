"""WebSocket routes of the face library."""
from django.urls import re_path

from .consumers import ImportProgressConsumer

websocket_urlpatterns = [
    re_path(r"^ws/faces/imports/(?P<import_id>\d+)/?$", ImportProgressConsumer.as_asgi()),
]
