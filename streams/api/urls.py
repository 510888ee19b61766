"""Streams API routes."""
from rest_framework.routers import DefaultRouter

app_name = "streams"

router = DefaultRouter(trailing_slash="/?")
router.include_root_view = False

# --- Monitoring tasks ---------------------------------------------------------------------------
from .task_views import MonitorTaskViewSet  # noqa: E402

# DRF turns the constructor's trailing_slash="/?" into "/": set it again so every path answers with
# and without the slash.
router.trailing_slash = "/?"
router.register("monitor-tasks", MonitorTaskViewSet, basename="monitor-task")
# --- (monitoring tasks end) ---------------------------------------------------------------------

urlpatterns = [*router.urls]
