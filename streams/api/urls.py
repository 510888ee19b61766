"""Streams API routes."""
from django.urls import re_path
from rest_framework.routers import DefaultRouter

from . import views

app_name = "streams"

router = DefaultRouter(trailing_slash="/?")
router.include_root_view = False
# Cameras, groups and ZLM hooks (streams engineer).
router.register("streams", views.VideoStreamViewSet, basename="stream")
router.register("stream-groups", views.StreamGroupViewSet, basename="stream-group")

# --- Monitoring tasks ---------------------------------------------------------------------------
from .task_views import MonitorTaskViewSet  # noqa: E402

# DRF turns the constructor's trailing_slash="/?" into "/": set it again so every path answers with
# and without the slash.
router.trailing_slash = "/?"
router.register("monitor-tasks", MonitorTaskViewSet, basename="monitor-task")
# --- (monitoring tasks end) ---------------------------------------------------------------------


urlpatterns = [
    re_path(r"^zlm/hooks/(?P<hook>[a-z0-9_]+)/?$", views.ZLMHookView.as_view(), name="zlm-hook"),
    *router.urls,
]
