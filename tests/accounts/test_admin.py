"""The Django admin for users (with roles inline) and roles."""
from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Role, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user):
    boss = make_user(None, "boss", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(boss)
    return client


def _roles_list(viewer_client) -> dict[str, int]:
    return {r["code"]: r["user_count"] for r in viewer_client.get("/api/roles/").json()["results"]}


def test_admin_pages_load(staff, make_user, roles):
    user = make_user("operator", "olga")
    for url in ("/admin/accounts/user/", f"/admin/accounts/user/{user.pk}/change/", "/admin/accounts/user/add/",
                "/admin/accounts/role/", f"/admin/accounts/role/{roles['viewer'].pk}/change/",
                "/admin/accounts/user/?q=olga", "/admin/accounts/user/?roles__id__exact=2"):
        response = staff.get(url)
        assert response.status_code == 200, url
    page = staff.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "User_roles-TOTAL_FORMS" in page  # the roles inline


def test_changing_roles_in_the_admin_invalidates_the_roles_cache(staff, make_user, roles, viewer_client):
    user = make_user("viewer", "vera")
    assert _roles_list(viewer_client)["operator"] == 0  # cached now
    link = User.roles.through.objects.get(user=user)
    response = staff.post(f"/admin/accounts/user/{user.pk}/change/", {
        "username": "vera", "password": user.password, "full_name": "", "email": "vera@example.com", "phone": "",
        "is_active": "on", "User_roles-TOTAL_FORMS": "1", "User_roles-INITIAL_FORMS": "1",
        "User_roles-MIN_NUM_FORMS": "0", "User_roles-MAX_NUM_FORMS": "1000",
        "User_roles-0-id": str(link.pk), "User_roles-0-user": str(user.pk),
        "User_roles-0-role": str(roles["operator"].pk),
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    assert user.roles.get().code == "operator"
    assert _roles_list(viewer_client)["operator"] == 1  # vera, seen at once: the cached page was dropped


def test_built_in_and_held_roles_cannot_be_deleted_in_the_admin(staff, make_user, roles):
    auditor = Role.objects.create(code="auditor", name="Auditor")
    make_user("viewer", "held").roles.add(auditor)
    spare = Role.objects.create(code="spare", name="Spare")
    assert staff.get(f"/admin/accounts/role/{roles['viewer'].pk}/delete/").status_code == 403
    assert staff.get(f"/admin/accounts/role/{auditor.pk}/delete/").status_code == 403
    # A bulk delete that includes a protected role is refused as a whole.
    response = staff.post("/admin/accounts/role/", {
        "action": "delete_selected", "_selected_action": [roles["admin"].pk, auditor.pk, spare.pk], "post": "yes"})
    assert response.status_code == 403
    assert Role.objects.count() == 5
    response = staff.post("/admin/accounts/role/", {
        "action": "delete_selected", "_selected_action": [spare.pk], "post": "yes"})
    assert response.status_code == 302
    assert set(Role.objects.values_list("code", flat=True)) == {"viewer", "operator", "admin", "auditor"}


def test_built_in_role_codes_are_read_only_in_the_admin(staff, roles):
    response = staff.post(f"/admin/accounts/role/{roles['viewer'].pk}/change/",
                          {"code": "watcher", "name": "Watchers", "description": ""})
    assert response.status_code == 302
    roles["viewer"].refresh_from_db()
    assert (roles["viewer"].code, roles["viewer"].name) == ("viewer", "Watchers")
