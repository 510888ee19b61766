"""Faces API routes: /api/face-libraries/, /api/faces/ (with upload, extract-features, search,
batch-import) and /api/face-imports/."""
from rest_framework.routers import DefaultRouter

from . import views

app_name = "faces"

router = DefaultRouter(trailing_slash="/?")
router.include_root_view = False
# DRF's constructor turns any truthy trailing_slash into "/"; set the optional slash after it.
router.trailing_slash = "/?"
router.register("face-libraries", views.FaceLibraryViewSet, basename="library")
router.register("faces", views.FaceViewSet, basename="face")
router.register("face-imports", views.FaceImportViewSet, basename="import")

urlpatterns = [*router.urls]
