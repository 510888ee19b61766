"""Shared fixtures: users of each role and API clients authenticated with real JWT access tokens."""
from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

ROLES = ("viewer", "operator", "admin")
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Each test writes media (snapshots, weights, faces) under its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SNAPSHOT_DIR = settings.MEDIA_ROOT / "snapshots"
    settings.MODELS_DIR = tmp_path / "models"
    for folder in (settings.MEDIA_ROOT, settings.SNAPSHOT_DIR, settings.MODELS_DIR):
        folder.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def roles(db):
    from accounts.services import seed_roles

    seed_roles()
    from accounts.models import Role

    return {r.code: r for r in Role.objects.all()}


@pytest.fixture
def make_user(db, roles):
    from accounts.models import User

    counter = {"n": 0}

    def make(role: str | None = "viewer", username: str | None = None, **extra):
        counter["n"] += 1
        name = username or f"{role or 'norole'}{counter['n']}"
        user = User.objects.create_user(username=name, email=f"{name}@example.com", password=PASSWORD, **extra)
        if role:
            user.roles.add(roles[role])
        return user

    return make


def client_for(user) -> APIClient:
    from rest_framework_simplejwt.tokens import RefreshToken

    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def viewer(make_user):
    return make_user("viewer", "viewer")


@pytest.fixture
def operator(make_user):
    return make_user("operator", "operator")


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", "admin")


@pytest.fixture
def viewer_client(viewer):
    return client_for(viewer)


@pytest.fixture
def operator_client(operator):
    return client_for(operator)


@pytest.fixture
def admin_client(admin_user):
    return client_for(admin_user)


@pytest.fixture
def client_as(make_user):
    """``client_as("operator")`` -> an API client for a fresh user of that role (None: anonymous)."""

    def make(role: str | None):
        return client_for(make_user(role) if role else None)

    return make


@pytest.fixture(scope="session", autouse=True)
def _flush_inference_stats_before_the_test_database_goes(django_db_setup, django_db_blocker):
    """Workers flush inference statistics at exit; in a test run that would be after the test
    database is dropped. Flush while it still exists."""
    yield
    from algorithms.services import flush_inference_stats

    with django_db_blocker.unblock():
        flush_inference_stats()
