"""WebSocket routes of the streams app."""
from django.urls import re_path

from . import consumers

websocket_urlpatterns = [
    # Camera status pushes (streams engineer).
    re_path(r"^ws/streams/(?P<stream_id>\d+)/?$", consumers.StreamStatusConsumer.as_asgi()),
]

# --- Monitoring tasks ---------------------------------------------------------------------------
from .consumers_tasks import MonitorTaskConsumer  # noqa: E402

websocket_urlpatterns += [
    re_path(r"^ws/monitor-tasks/(?P<task_id>\d+)/?$", MonitorTaskConsumer.as_asgi()),
]
# --- (monitoring tasks end) ---------------------------------------------------------------------
