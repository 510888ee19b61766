"""Faces API routes."""
from rest_framework.routers import DefaultRouter

app_name = "faces"

router = DefaultRouter(trailing_slash="/?")
router.include_root_view = False

urlpatterns = [*router.urls]
