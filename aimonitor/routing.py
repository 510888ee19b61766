"""WebSocket routes of every app, gathered in one place for the ASGI router."""
from importlib import import_module

websocket_urlpatterns = []
for _app in ("accounts", "algorithms", "streams", "alerts", "faces"):
    try:
        _module = import_module(f"{_app}.routing")
    except ModuleNotFoundError as exc:
        if exc.name != f"{_app}.routing":
            raise
        continue
    websocket_urlpatterns += getattr(_module, "websocket_urlpatterns", [])

