"""The seed command (`manage.py seed`, run by `make run`): storage folders, roles, the first superuser,
and safe to run again."""
from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from accounts.models import Role, User

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed", stdout=out)
    return out.getvalue()


@pytest.fixture
def storage(settings, tmp_path):
    settings.STORAGE_DIRS = tuple(tmp_path / name for name in ("var", "logs", "media", "media/snapshots", "models"))
    return settings.STORAGE_DIRS


def test_seed_creates_folders_roles_and_the_superuser_from_the_environment(monkeypatch, storage, api_client):
    monkeypatch.setenv("AIMONITOR_ADMIN_USERNAME", "root")
    monkeypatch.setenv("AIMONITOR_ADMIN_PASSWORD", "a-long-admin-passphrase")
    monkeypatch.setenv("AIMONITOR_ADMIN_EMAIL", "root@example.com")
    output = seed()
    assert all(folder.is_dir() for folder in storage)
    assert sorted(Role.objects.values_list("code", flat=True)) == ["admin", "operator", "viewer"]
    root = User.objects.get(username="root")
    assert root.is_superuser and root.is_staff and root.is_active
    assert root.email == "root@example.com"
    assert root.role_codes == ["admin"]
    assert "generated password" not in output
    assert "a-long-admin-passphrase" not in output  # a given password is never echoed
    login = api_client.post("/api/auth/login", {"username": "root", "password": "a-long-admin-passphrase"},
                            format="json")
    assert login.status_code == 200 and login.json()["user"]["is_superuser"] is True


def test_seed_generates_a_password_printed_once(monkeypatch, storage, api_client):
    monkeypatch.delenv("AIMONITOR_ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("AIMONITOR_ADMIN_PASSWORD", raising=False)
    first = seed()
    match = re.search(r"generated password for 'admin' \(shown once\): (\S+)", first)
    assert match, first
    password = match.group(1)
    assert len(password) >= 16
    assert api_client.post("/api/auth/login", {"username": "admin", "password": password},
                           format="json").status_code == 200
    second = seed()
    assert "generated password" not in second and password not in second


def test_seed_twice_writes_no_duplicates_and_keeps_data(monkeypatch, storage):
    monkeypatch.setenv("AIMONITOR_ADMIN_USERNAME", "root")
    monkeypatch.setenv("AIMONITOR_ADMIN_PASSWORD", "a-long-admin-passphrase")
    seed()
    # Data an operator changed in between survives the second run.
    Role.objects.filter(code="viewer").update(name="Watchers")
    User.objects.filter(username="root").update(full_name="Chief")
    extra = User.objects.create_user("later", "later@example.com", "another-passphrase-1")
    before_roles = list(Role.objects.order_by("id").values_list("id", "code", "name"))
    before_users = list(User.objects.order_by("id").values_list("id", "username", "password", "full_name"))
    output = seed()
    assert list(Role.objects.order_by("id").values_list("id", "code", "name")) == before_roles
    assert list(User.objects.order_by("id").values_list("id", "username", "password", "full_name")) == before_users
    assert User.objects.filter(is_superuser=True).count() == 1
    assert "created" not in output
    assert User.objects.filter(pk=extra.pk).exists()


def test_seed_adds_a_missing_built_in_role_back(storage):
    seed()
    Role.objects.filter(code="operator").delete()
    assert "created 1 role(s)" in seed()
    assert Role.objects.filter(code="operator").count() == 1
