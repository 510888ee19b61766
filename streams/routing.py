"""WebSocket routes of the streams app."""
from django.urls import re_path

from . import consumers

websocket_urlpatterns = [
    # Camera status pushes (streams engineer).
    re_path(r"^ws/streams/(?P<stream_id>\d+)/?$", consumers.StreamStatusConsumer.as_asgi()),
]
