"""The shared error shape for every error status, and trailing slashes on every route and method."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import re_path, reverse
from rest_framework.views import APIView

from accounts.models import Role, User
from tests.accounts.test_auth import assert_error
from tests.conftest import PASSWORD, client_for
from tests.matrix import Ctx
from tests.test_permission_matrix import declared_endpoints

pytestmark = pytest.mark.django_db


# --- every status in one shape -----------------------------------------------------------------

def test_400_missing_fields(api_client):
    body = assert_error(api_client.post("/api/auth/register", {}, format="json"), 400, "invalid")
    assert set(body["errors"]) == {"username", "email", "password"}


def test_400_malformed_json(api_client):
    response = api_client.post("/api/auth/login", data="{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_401_and_403(api_client, viewer_client):
    assert_error(api_client.get("/api/roles/"), 401, "not_authenticated")
    assert_error(viewer_client.post("/api/roles/", {"code": "x", "name": "X"}, format="json"), 403,
                 "permission_denied")


@pytest.mark.parametrize("path", ["/api/no-such-thing", "/api/no/such/thing/", "/api/users/999999",
                                  "/api/roles/not-a-number", "/api/users/not-a-number", "/api/users/%00",
                                  "/api/users/99999999999999999999999999", "/api/roles/99999999999999999999999"])
def test_404_for_unknown_api_paths(admin_client, path):
    assert_error(admin_client.get(path), 404, "not_found")
    if "such" in path:  # no route at all: every method is a 404 (a detail route answers POST with 405)
        assert_error(admin_client.post(path, {"a": 1}, format="json"), 404, "not_found")


def test_405_wrong_method(admin_client, api_client):
    response = api_client.get("/api/auth/login")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]
    assert_error(admin_client.post("/api/users/info", {}, format="json"), 405, "method_not_allowed")


def test_409_conflict(admin_client, make_user, roles):
    make_user("viewer")
    assert_error(admin_client.delete(f"/api/roles/{roles['viewer'].pk}"), 409)


def test_413_oversized_body_writes_nothing(api_client, roles, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    data = {"username": "big", "email": "big@example.com", "password": "a-long-passphrase-42",
            "full_name": "x" * 2000}
    response = api_client.post("/api/auth/register", data=json.dumps(data), content_type="application/json")
    assert_error(response, 413, "payload_too_large")
    assert not User.objects.filter(username="big").exists()


def test_413_oversized_multipart_body(admin_client, settings):
    settings.MAX_UPLOAD_REQUEST_BYTES = 2048
    response = admin_client.post("/api/roles/", {"code": "big", "name": "n" * 4096}, format="multipart")
    assert_error(response, 413, "payload_too_large")
    assert not Role.objects.filter(code="big").exists()


def test_415_unsupported_media_type(api_client, roles):
    response = api_client.post("/api/auth/register", data="username=x", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")
    assert User.objects.count() == 0


def test_429_throttled(api_client, make_user, settings):
    settings.LOGIN_MAX_FAILURES = 1
    make_user("viewer", "t")
    api_client.post("/api/auth/login", {"username": "t", "password": "bad-password"}, format="json")
    response = api_client.post("/api/auth/login", {"username": "t", "password": PASSWORD}, format="json")
    assert_error(response, 429, "throttled")
    assert "Retry-After" in response


class _Broken(APIView):
    permission_classes: list = []

    def get(self, request):
        raise RuntimeError("a bug")


class _Overflow(APIView):
    permission_classes: list = []

    def get(self, request):
        raise OverflowError("Python int too large to convert to SQLite INTEGER")


def _broken_plain(request):
    raise RuntimeError("a bug outside DRF")


def _ok(request):
    return HttpResponse("ok")


urlpatterns = [
    re_path(r"^api/broken/?$", _Broken.as_view()),
    re_path(r"^api/broken-plain/?$", _broken_plain),
    re_path(r"^api/overflow/?$", _Overflow.as_view()),
    re_path(r"^plain/?$", _ok),
]
handler500 = "aimonitor.views.server_error"


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("path", ["/api/broken", "/api/broken-plain"])
def test_500_is_in_the_shared_shape_and_leaks_nothing(path):
    # A bug cannot be caused through the real endpoints (that is the point), so this URL conf holds
    # two views that raise.
    response = Client(raise_request_exception=False).get(path)
    body = assert_error(response, 500, "server_error")
    assert "a bug" not in json.dumps(body)


# --- trailing slashes --------------------------------------------------------------------------

def _twin(url: str) -> str:
    return url[:-1] if url.endswith("/") else f"{url}/"


ADMIN_CASES = [e for e in declared_endpoints()]


@pytest.mark.parametrize("endpoint", ADMIN_CASES,
                         ids=[f"{e.method} {e.url_name} {e.note}".strip() for e in ADMIN_CASES])
@pytest.mark.parametrize("slash", [True, False], ids=["with-slash", "without-slash"])
def test_every_endpoint_answers_with_and_without_a_trailing_slash(endpoint, slash, make_user, request):
    """Generated from the permission matrix (itself checked against the URL conf): each endpoint and
    method, called by an admin with and without the trailing slash, gets the admin's expected status
    and never a redirect."""
    user = make_user("admin")
    ctx = Ctx(user=user, make_user=make_user, request=request)
    url = reverse(endpoint.url_name, kwargs=endpoint.kwargs(ctx) if endpoint.kwargs else {})
    url = url.rstrip("/") + ("/" if slash else "")
    data = endpoint.data(ctx) if callable(endpoint.data) else endpoint.data
    client = client_for(user)
    if endpoint.method == "GET":
        response = client.get(url, endpoint.query or {})
    else:
        if endpoint.query:
            url = f"{url}?{urlencode(endpoint.query)}"
        response = getattr(client, endpoint.method.lower())(url, data, format=endpoint.format)
    assert response.status_code not in (301, 302, 307, 308)
    assert response.status_code == endpoint.expected["admin"], (url, response.content[:300])


def test_a_post_body_survives_the_path_without_a_slash(api_client, roles):
    response = api_client.post("/api/auth/register", {"username": "slashless", "email": "s@example.com",
                                                      "password": "a-long-passphrase-42"}, format="json")
    assert response.status_code == 201
    assert User.objects.filter(username="slashless").exists()


@pytest.mark.urls(__name__)
def test_paths_outside_the_api_are_left_alone(client):
    assert client.get("/plain").status_code == 200


@pytest.mark.urls(__name__)
def test_a_number_the_database_cannot_hold_is_400_not_500():
    # SQLite raises OverflowError while binding a 2**64 id; such input is the client's fault.
    body = assert_error(Client().get("/api/overflow"), 400, "out_of_range")
    assert body["errors"] == {"non_field_errors": ["A value is out of range."]}
