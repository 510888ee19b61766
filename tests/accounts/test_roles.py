"""Roles: CRUD for admins, the cached list and its invalidation, and the 409 for a role in use."""
from __future__ import annotations

import pytest

from accounts.models import Role, User
from tests.accounts.test_auth import assert_error

pytestmark = pytest.mark.django_db


def _codes(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["code"] for row in response.json()["results"]]


def _counts(response) -> dict[str, int]:
    return {row["code"]: row["user_count"] for row in response.json()["results"]}


def test_roles_list_is_paginated_with_holder_counts(viewer_client, make_user):
    make_user("operator")
    response = viewer_client.get("/api/roles/")
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert _codes(response) == ["viewer", "operator", "admin"]
    assert _counts(response) == {"viewer": 1, "operator": 1, "admin": 0}


def test_roles_list_is_served_from_the_cache(viewer_client, django_assert_max_num_queries):
    first = viewer_client.get("/api/roles/")
    # A change that bypasses the services (so nothing invalidates) is not seen: the list is cached.
    Role.objects.filter(code="viewer").update(name="Renamed behind the cache's back")
    with django_assert_max_num_queries(2):  # authentication and role lookup only, no roles query
        second = viewer_client.get("/api/roles/")
    assert second.json() == first.json()
    # Different query strings are different entries.
    assert _codes(viewer_client.get("/api/roles/", {"search": "oper"})) == ["operator"]


def test_writing_a_role_invalidates_the_cached_list(admin_client):
    assert _codes(admin_client.get("/api/roles/")) == ["viewer", "operator", "admin"]
    created = admin_client.post("/api/roles/", {"code": "auditor", "name": "Auditor"}, format="json")
    assert created.status_code == 201
    assert _codes(admin_client.get("/api/roles/")) == ["viewer", "operator", "admin", "auditor"]
    role_id = created.json()["id"]
    assert admin_client.patch(f"/api/roles/{role_id}", {"name": "Auditors"}, format="json").status_code == 200
    names = {r["code"]: r["name"] for r in admin_client.get("/api/roles/").json()["results"]}
    assert names["auditor"] == "Auditors"
    assert admin_client.delete(f"/api/roles/{role_id}").status_code == 204
    assert _codes(admin_client.get("/api/roles/")) == ["viewer", "operator", "admin"]


def test_changing_user_roles_invalidates_the_cached_list(admin_client, make_user, api_client):
    user = make_user("viewer", "mover")
    assert _counts(admin_client.get("/api/roles/"))["operator"] == 0
    admin_client.patch(f"/api/users/{user.pk}", {"roles": ["operator"]}, format="json")
    assert _counts(admin_client.get("/api/roles/")) == {"viewer": 0, "operator": 1, "admin": 1}
    # Registration gives the default role: the holder count moves.
    api_client.post("/api/auth/register", {"username": "reg", "email": "reg@example.com",
                                            "password": "a-long-passphrase-42"}, format="json")
    assert _counts(admin_client.get("/api/roles/"))["viewer"] == 1
    # Deleting a user releases its roles.
    admin_client.delete(f"/api/users/{user.pk}")
    assert _counts(admin_client.get("/api/roles/"))["operator"] == 0


def test_deleting_a_held_role_is_409_with_the_holder_count(admin_client, make_user, roles):
    auditor = Role.objects.create(code="auditor", name="Auditor")
    for _ in range(3):
        make_user("viewer").roles.add(auditor)
    body = assert_error(admin_client.delete(f"/api/roles/{auditor.pk}"), 409, "role_in_use")
    assert "3" in body["detail"]
    assert body["errors"] == {"user_count": ["3"]}
    assert Role.objects.filter(pk=auditor.pk).exists()
    assert auditor.users.count() == 3


def test_built_in_roles_cannot_be_deleted_or_recoded(admin_client, roles):
    viewer_role = roles["viewer"]
    assert_error(admin_client.delete(f"/api/roles/{viewer_role.pk}"), 409, "builtin_role")
    body = assert_error(admin_client.patch(f"/api/roles/{viewer_role.pk}", {"code": "watcher"}, format="json"), 400,
                        "builtin_role")
    assert "code" in body["errors"]
    viewer_role.refresh_from_db()
    assert viewer_role.code == "viewer"
    # Its name and description may change.
    assert admin_client.patch(f"/api/roles/{viewer_role.pk}", {"name": "Watcher"}, format="json").status_code == 200


@pytest.mark.parametrize(("data", "field"), [
    ({"name": "No code"}, "code"),
    ({"code": "has space", "name": "X"}, "code"),
    ({"code": "viewer", "name": "Duplicate"}, "code"),
    ({"code": "x" * 51, "name": "Long"}, "code"),
    ({"code": "ok"}, "name"),
])
def test_bad_role_input_is_400_and_writes_nothing(admin_client, roles, data, field):
    body = assert_error(admin_client.post("/api/roles/", data, format="json"), 400)
    assert field in body["errors"]
    assert Role.objects.count() == 3


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_write_roles(client_as, role, roles):
    client = client_as(role)
    assert_error(client.post("/api/roles/", {"code": "x", "name": "X"}, format="json"), 403, "permission_denied")
    assert_error(client.delete(f"/api/roles/{roles['operator'].pk}"), 403)
    assert Role.objects.count() == 3
    assert User.objects.filter(roles__code="operator").exists() is (role == "operator")
