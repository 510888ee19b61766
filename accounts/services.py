"""Account workflows: seeding roles and the first admin, registration, login with lock-out,
tokens, and the roles cache."""
from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from .choices import RoleCode
from .models import Role, User

logger = logging.getLogger(__name__)

BUILTIN_ROLES = {
    RoleCode.VIEWER: ("Viewer", "Reads cameras, tasks, alerts and faces."),
    RoleCode.OPERATOR: ("Operator", "Also starts and stops tasks, processes alerts and manages faces."),
    RoleCode.ADMIN: ("Administrator", "Manages users, roles, algorithms and streams."),
}
ROLES_CACHE_VERSION_KEY = "accounts:roles:version"


def seed_roles() -> int:
    """Creates the built-in roles that are missing; returns how many were created. Idempotent."""
    created = 0
    for code, (name, description) in BUILTIN_ROLES.items():
        _, was_created = Role.objects.get_or_create(code=code, defaults={"name": name, "description": description})
        created += was_created
    if created:
        invalidate_roles_cache()
    return created


def ensure_superuser(
    username: str | None, password: str | None, email: str | None = None
) -> tuple[User | None, str | None]:
    """Creates the first superuser when none exists. Returns (user, generated password or None).

    With no username given, ``admin`` is used; with no password given one is generated and
    returned so the caller can print it once. An existing superuser is left alone.
    """
    if User.objects.filter(is_superuser=True).exists():
        return None, None
    username = username or "admin"
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    with transaction.atomic():
        user = User.objects.create_superuser(username=username, email=email or None, password=password,
                                             full_name="Administrator")
        user.roles.add(Role.objects.get(code=RoleCode.ADMIN))
    invalidate_roles_cache()
    return user, generated


@transaction.atomic
def register_user(*, username: str, email: str, password: str, full_name: str = "", phone: str = "") -> User:
    user = User.objects.create_user(username=username, email=email, password=password, full_name=full_name, phone=phone)
    role = Role.objects.filter(code=settings.DEFAULT_ROLE).first()
    if role is not None:
        user.roles.add(role)
        invalidate_roles_cache()
    return user


# --- login lock-out ----------------------------------------------------------------------------

@dataclass
class LoginBlocked(Exception):
    retry_after: int


def _failure_keys(username: str, address: str) -> list[str]:
    return [f"accounts:login-fail:user:{username.lower()}", f"accounts:login-fail:addr:{address}"]


def _check_lockout(keys: list[str]) -> None:
    now = time.time()
    for key in keys:
        entry = cache.get(key)
        if entry and entry["count"] >= settings.LOGIN_MAX_FAILURES:
            retry_after = int(entry["until"] - now) + 1
            if retry_after > 0:
                raise LoginBlocked(retry_after=retry_after)


def _record_failure(keys: list[str]) -> None:
    now = time.time()
    for key in keys:
        entry = cache.get(key) or {"count": 0}
        entry = {"count": entry["count"] + 1, "until": now + settings.LOGIN_LOCKOUT_SECONDS}
        cache.set(key, entry, settings.LOGIN_LOCKOUT_SECONDS)


def login(*, username: str, password: str, address: str, request=None) -> User | None:
    """Checks credentials with a per-username and per-address lock-out after repeated failures.

    Raises :class:`LoginBlocked` while locked out; returns the user, or None for bad credentials
    (an inactive user counts as bad credentials).
    """
    keys = _failure_keys(username, address)
    _check_lockout(keys)
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        _record_failure(keys)
        logger.info("Failed login for %r from %s", username, address)
        return None
    cache.delete(keys[0])
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    user.refresh_from_db(fields=["last_login"])
    return user


def issue_tokens(user: User) -> dict:
    refresh = RefreshToken.for_user(user)
    access = refresh.access_token
    return {
        "access_token": str(access),
        "refresh_token": str(refresh),
        "token_type": "bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


# --- roles cache -------------------------------------------------------------------------------

def roles_cache_version() -> int:
    return cache.get_or_set(ROLES_CACHE_VERSION_KEY, 1, None)


def invalidate_roles_cache() -> None:
    try:
        cache.incr(ROLES_CACHE_VERSION_KEY)
    except ValueError:
        cache.set(ROLES_CACHE_VERSION_KEY, 2, None)


def set_user_roles(user: User, role_codes: list[str]) -> None:
    user.roles.set(Role.objects.filter(code__in=role_codes))
    user.forget_roles()
    invalidate_roles_cache()


@transaction.atomic
def delete_role(role: Role) -> int:
    """Deletes a role no user holds. Returns the number of holders (0 when deleted)."""
    holders = role.users.count()
    if holders:
        return holders
    role.delete()
    invalidate_roles_cache()
    return 0
