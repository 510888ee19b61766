"""Pages of the alerts app outside the API: the live console."""
from django.urls import re_path

from . import views

app_name = "alerts-pages"

urlpatterns = [
    re_path(r"^console/?$", views.console, name="console"),
]
