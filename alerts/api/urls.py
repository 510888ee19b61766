"""Alerts API routes."""
from rest_framework.routers import DefaultRouter

app_name = "alerts"

router = DefaultRouter(trailing_slash="/?")
router.include_root_view = False

urlpatterns = [*router.urls]
