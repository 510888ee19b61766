"""Users list, detail rules, admin changes and the caller's own profile."""
from __future__ import annotations

import pytest

from accounts.models import User
from tests.accounts.test_auth import assert_error
from tests.conftest import PASSWORD, client_for

pytestmark = pytest.mark.django_db


def _ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


# --- list --------------------------------------------------------------------------------------

def test_users_list_is_paginated(admin_client, make_user):
    for _ in range(4):
        make_user("viewer")
    response = admin_client.get("/api/users/", {"page_size": 2})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 5  # four viewers and the admin
    assert len(body["results"]) == 2
    assert body["previous"] is None and "page=2" in body["next"]
    last = admin_client.get("/api/users/", {"page_size": 2, "page": 3}).json()
    assert len(last["results"]) == 1 and last["next"] is None
    assert_error(admin_client.get("/api/users/", {"page": 99}), 404, "not_found")


def test_users_list_filters_by_role_username_email_and_activity(admin_client, admin_user, make_user):
    op = make_user("operator", "opal")
    viewer = make_user("viewer", "vince")
    idle = make_user("viewer", "idle", is_active=False)
    assert _ids(admin_client.get("/api/users/", {"role": "operator"})) == [op.pk]
    assert _ids(admin_client.get("/api/users/", {"role": "viewer"})) == [viewer.pk, idle.pk]
    assert _ids(admin_client.get("/api/users/", {"username": "pal"})) == [op.pk]
    assert _ids(admin_client.get("/api/users/", {"email": "vince@"})) == [viewer.pk]
    assert _ids(admin_client.get("/api/users/", {"is_active": "false"})) == [idle.pk]
    assert set(_ids(admin_client.get("/api/users/", {"is_active": "true"}))) == {admin_user.pk, op.pk, viewer.pk}


def test_users_list_search_covers_username_email_and_full_name(admin_client, make_user):
    a = make_user("viewer", "sam", full_name="Samantha Carter")
    b = make_user("viewer", "dan", full_name="Daniel Jackson")
    assert _ids(admin_client.get("/api/users/", {"search": "carter"})) == [a.pk]
    assert _ids(admin_client.get("/api/users/", {"search": "dan@example"})) == [b.pk]
    assert _ids(admin_client.get("/api/users/", {"search": "nobody-matches"})) == []


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_non_admins_cannot_list_users(client_as, role):
    assert_error(client_as(role).get("/api/users/"), 403, "permission_denied")


# --- detail ------------------------------------------------------------------------------------

def test_a_user_may_read_itself(viewer_client, viewer):
    response = viewer_client.get(f"/api/users/{viewer.pk}")
    assert response.status_code == 200
    assert response.json()["username"] == "viewer"


def test_a_user_gets_404_for_another_user_and_for_a_missing_one(viewer_client, make_user):
    other = make_user("viewer", "other")
    a = viewer_client.get(f"/api/users/{other.pk}")
    b = viewer_client.get("/api/users/999999")
    assert_error(a, 404, "not_found")
    assert_error(b, 404, "not_found")
    assert a.json() == b.json()  # the two are indistinguishable: no existence leak


def test_a_non_admin_cannot_change_itself_through_the_admin_endpoint(operator_client, operator):
    assert_error(operator_client.patch(f"/api/users/{operator.pk}", {"roles": ["admin"]}, format="json"), 403)
    assert operator.roles.get().code == "operator"


def test_admin_changes_roles_activity_and_password(admin_client, make_user, api_client):
    user = make_user("viewer", "rick")
    response = admin_client.patch(f"/api/users/{user.pk}", {
        "roles": ["operator", "viewer"], "is_active": False, "password": "another-long-passphrase",
        "full_name": "Rick"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["roles"] == ["operator", "viewer"]
    assert body["is_active"] is False and body["full_name"] == "Rick"
    user.refresh_from_db()
    assert user.check_password("another-long-passphrase")
    assert sorted(user.roles.values_list("code", flat=True)) == ["operator", "viewer"]
    admin_client.patch(f"/api/users/{user.pk}", {"is_active": True}, format="json")
    login = api_client.post("/api/auth/login", {"username": "rick", "password": "another-long-passphrase"},
                            format="json")
    assert login.status_code == 200
    assert login.json()["user"]["roles"] == ["operator", "viewer"]


def test_admin_put_replaces_the_editable_fields(admin_client, make_user):
    user = make_user("viewer", "put-me")
    response = admin_client.put(f"/api/users/{user.pk}", {
        "username": "put-you", "email": "put@example.com", "full_name": "P", "phone": "+1 555",
        "is_active": True, "is_superuser": False, "is_staff": False, "roles": ["operator"]}, format="json")
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.username, user.email, user.phone, user.role_codes) == ("put-you", "put@example.com", "+1 555",
                                                                         ["operator"])


@pytest.mark.parametrize(("data", "field"), [
    ({"roles": ["no-such-role"]}, "roles"),
    ({"password": "123"}, "password"),
    ({"email": "not-an-email"}, "email"),
    ({"email": "taken@example.com"}, "email"),
    ({"is_active": "maybe"}, "is_active"),
])
def test_admin_bad_changes_are_400_and_change_nothing(admin_client, make_user, data, field):
    make_user("viewer", "taken")
    user = make_user("viewer", "target")
    before = (user.password, user.email, user.is_active, user.role_codes)
    body = assert_error(admin_client.patch(f"/api/users/{user.pk}", data, format="json"), 400)
    assert field in body["errors"]
    user = User.objects.get(pk=user.pk)
    assert (user.password, user.email, user.is_active, user.role_codes) == before


def test_admin_cannot_lock_itself_out(admin_client, admin_user):
    for data in ({"is_active": False}, {"roles": ["viewer"]}):
        body = assert_error(admin_client.patch(f"/api/users/{admin_user.pk}", data, format="json"), 400,
                            "self_lockout")
        assert body["errors"]
    admin_user = User.objects.get(pk=admin_user.pk)
    assert admin_user.is_active and admin_user.role_codes == ["admin"]


def test_admin_deletes_a_user_but_not_itself(admin_client, admin_user, make_user):
    user = make_user("viewer", "doomed")
    assert admin_client.delete(f"/api/users/{user.pk}").status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    assert_error(admin_client.delete(f"/api/users/{admin_user.pk}"), 409, "self_delete")
    assert User.objects.filter(pk=admin_user.pk).exists()
    assert_error(admin_client.delete("/api/users/999999"), 404)


def test_superusers_are_admins_without_an_admin_role(make_user):
    boss = make_user(None, "boss", is_superuser=True)
    assert client_for(boss).get("/api/users/").status_code == 200


# --- profile -----------------------------------------------------------------------------------

def test_profile_shows_the_caller(viewer_client, viewer):
    body = viewer_client.get("/api/users/info").json()
    assert body["id"] == viewer.pk and body["roles"] == ["viewer"]


def test_profile_changes_name_email_and_phone(viewer_client, viewer):
    response = viewer_client.patch("/api/users/info", {"full_name": "Vi Ewer", "email": "vi@example.com",
                                                       "phone": "+44 20 7946 0000"}, format="json")
    assert response.status_code == 200, response.content
    viewer.refresh_from_db()
    assert (viewer.full_name, viewer.email, viewer.phone) == ("Vi Ewer", "vi@example.com", "+44 20 7946 0000")


def test_profile_password_change_needs_the_current_password(viewer_client, viewer, api_client):
    old_hash = viewer.password
    body = assert_error(viewer_client.patch("/api/users/info", {"password": "brand-new-passphrase"}, format="json"),
                        400)
    assert "current_password" in body["errors"]
    body = assert_error(viewer_client.patch("/api/users/info", {"password": "brand-new-passphrase",
                                                                "current_password": "wrong"}, format="json"), 400)
    assert "current_password" in body["errors"]
    body = assert_error(viewer_client.patch("/api/users/info", {"password": "123",
                                                                "current_password": PASSWORD}, format="json"), 400)
    assert "password" in body["errors"]
    viewer.refresh_from_db()
    assert viewer.password == old_hash
    ok = viewer_client.patch("/api/users/info", {"password": "brand-new-passphrase", "current_password": PASSWORD},
                             format="json")
    assert ok.status_code == 200
    assert api_client.post("/api/auth/login", {"username": "viewer", "password": "brand-new-passphrase"},
                           format="json").status_code == 200


@pytest.mark.parametrize("data", [
    {"roles": ["admin"]},
    {"is_superuser": True},
    {"is_active": False},
    {"is_staff": True},
    {"full_name": "Sneaky", "roles": ["admin"]},
])
def test_profile_may_not_change_rights_and_nothing_changes(viewer_client, viewer, data):
    body = assert_error(viewer_client.patch("/api/users/info", data, format="json"), 400)
    assert set(body["errors"]) == set(data) - {"full_name"}
    viewer = User.objects.get(pk=viewer.pk)
    assert viewer.role_codes == ["viewer"]
    assert not viewer.is_superuser and not viewer.is_staff and viewer.is_active
    assert viewer.full_name == ""


def test_profile_email_taken_by_another_user_is_400(viewer_client, viewer, make_user):
    make_user("viewer", "owner")
    body = assert_error(viewer_client.patch("/api/users/info", {"email": "owner@example.com"}, format="json"), 400)
    assert "email" in body["errors"]
    viewer.refresh_from_db()
    assert viewer.email == "viewer@example.com"
