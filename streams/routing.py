"""WebSocket routes of the streams app."""
from django.urls import re_path

websocket_urlpatterns = []

# --- Monitoring tasks ---------------------------------------------------------------------------
from .consumers_tasks import MonitorTaskConsumer  # noqa: E402

websocket_urlpatterns += [
    re_path(r"^ws/monitor-tasks/(?P<task_id>\d+)/?$", MonitorTaskConsumer.as_asgi()),
]
# --- (monitoring tasks end) ---------------------------------------------------------------------
