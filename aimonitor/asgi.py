"""ASGI entry point: HTTP through Django, WebSockets through Channels with JWT authentication.

Each app that pushes live data contributes ``websocket_urlpatterns`` in its ``routing.py``. In the
embedded mode (`make run`) loading this module also starts the in-process Celery worker and beat.
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimonitor.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from accounts.websocket import JWTAuthMiddleware  # noqa: E402
from aimonitor.metrics import WebSocketMetricsMiddleware  # noqa: E402
from aimonitor.routing import websocket_urlpatterns  # noqa: E402

if settings.EMBEDDED_WORKERS:
    from aimonitor import embedded

    embedded.start()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebSocketMetricsMiddleware(
            AllowedHostsOriginValidator(JWTAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
