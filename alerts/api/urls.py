"""Alerts API routes."""
from rest_framework.routers import DefaultRouter

from . import views

app_name = "alerts"

router = DefaultRouter(trailing_slash="/?")
router.include_root_view = False
# DRF turns any truthy trailing_slash argument into "/", so set the optional slash after construction.
router.trailing_slash = "/?"
router.register("alerts", views.AlertViewSet, basename="alert")

urlpatterns = [*router.urls]
