"""The role permission classes every app reuses, exercised through a real viewset."""
from __future__ import annotations

import pytest
from django.urls import include, path
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from accounts.permissions import IsAdmin, IsOperator, IsViewer
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


class Things(viewsets.ViewSet):
    required_roles = {"start": "operator", "PATCH": "operator"}

    def list(self, request):
        return Response([])

    def create(self, request):
        return Response({}, status=201)

    def partial_update(self, request, pk=None):
        return Response({})

    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return Response({"started": True})


def _plain(permission):
    class View(APIView):
        permission_classes = [permission]

        def get(self, request):
            return Response({"ok": True})

    return View.as_view()


router = SimpleRouter()
router.register("things", Things, basename="thing")
urlpatterns = [
    path("", include(router.urls)),
    path("viewer/", _plain(IsViewer)),
    path("operator/", _plain(IsOperator)),
    path("admin-only/", _plain(IsAdmin)),
]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(("role", "expected"), [
    (None, {"list": 401, "create": 401, "patch": 401, "start": 401}),
    ("viewer", {"list": 200, "create": 403, "patch": 403, "start": 403}),
    ("operator", {"list": 200, "create": 403, "patch": 200, "start": 200}),
    ("admin", {"list": 200, "create": 201, "patch": 200, "start": 200}),
])
def test_required_roles_by_action_and_method_with_safe_and_write_defaults(make_user, role, expected):
    client = client_for(make_user(role) if role else None)
    got = {"list": client.get("/things/").status_code,
           "create": client.post("/things/", {}, format="json").status_code,
           "patch": client.patch("/things/1/", {}, format="json").status_code,
           "start": client.post("/things/1/start/", {}, format="json").status_code}
    assert got == expected


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(("role", "expected"), [
    (None, (401, 401, 401)), ("viewer", (200, 403, 403)), ("operator", (200, 200, 403)), ("admin", (200, 200, 200)),
])
def test_is_viewer_operator_admin(make_user, role, expected):
    client = client_for(make_user(role) if role else None)
    got = tuple(client.get(url).status_code for url in ("/viewer/", "/operator/", "/admin-only/"))
    assert got == expected


@pytest.mark.urls(__name__)
def test_superusers_are_admins_and_users_without_a_role_are_refused(make_user):
    assert client_for(make_user(None, "su", is_superuser=True)).post("/things/", {}, format="json").status_code == 201
    assert client_for(make_user(None, "nobody")).get("/things/").status_code == 403
