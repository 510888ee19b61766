"""Root URL configuration: the admin, each app's API, the OpenAPI schema and docs, health.

API paths are written without a trailing slash and answer with one as well (``/?``), for every method.
"""
from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from aimonitor import views

urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^api/health/?$", views.HealthView.as_view(), name="health"),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^redoc/?$", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/", include("accounts.api.urls")),
    path("api/", include("algorithms.api.urls")),
    path("api/", include("streams.api.urls")),
    path("api/", include("alerts.api.urls")),
    path("api/", include("faces.api.urls")),
    path("", include("aimonitor.system.urls")),
    path("", include("alerts.urls")),
    # Anything else under /api/ is a JSON 404 in the shared error shape, also with DEBUG on.
    re_path(r"^api/", views.not_found),
]

if settings.SERVE_MEDIA:
    urlpatterns.append(re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}))

handler404 = "aimonitor.views.not_found"
handler500 = "aimonitor.views.server_error"
