"""Algorithms API routes."""
from rest_framework.routers import DefaultRouter

from .views import AlgorithmViewSet, ExportJobViewSet

app_name = "algorithms"

router = DefaultRouter(trailing_slash="/?")
router.include_root_view = False
router.register("algorithms", AlgorithmViewSet, basename="algorithm")
router.register("algorithm-exports", ExportJobViewSet, basename="algorithm-export")

urlpatterns = [*router.urls]
