"""Routes of the system package (included at the root: ``/api/system/...`` and ``/metrics``)."""
from django.urls import re_path

from . import views

app_name = "system"

urlpatterns = [
    re_path(r"^api/system/gpus/?$", views.SystemGpusView.as_view(), name="gpus"),
    re_path(r"^api/system/info/?$", views.SystemInfoView.as_view(), name="info"),
    re_path(r"^metrics/?$", views.metrics_view, name="metrics"),
]
