"""Account workflows: seeding roles and the first admin, registration, login with lock-out,
tokens, and the roles cache."""
from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.db import IntegrityError, transaction
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


class AccountConflict(Exception):
    """A write that would break an account invariant; ``errors`` maps field -> messages."""

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None, code: str = "invalid"):
        super().__init__(detail)
        self.detail, self.errors, self.code = detail, errors or {}, code


def _duplicate_errors(username: str | None, email: str | None, exclude_pk: int | None = None) -> dict:
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk else User.objects.all()
    errors = {}
    if username and others.filter(username__iexact=username).exists():
        errors["username"] = ["A user with that username already exists."]
    if email and others.filter(email__iexact=email).exists():
        errors["email"] = ["A user with that email already exists."]
    return errors


def register_user(*, username: str, email: str, password: str, full_name: str = "", phone: str = "") -> User:
    """Creates an active user with the default role (``AIMONITOR_DEFAULT_ROLE``).

    Two registrations racing for one username or email: the loser gets :class:`AccountConflict`
    with field errors instead of a database error.
    """
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email, password=password,
                                            full_name=full_name, phone=phone)
            role = Role.objects.filter(code=settings.DEFAULT_ROLE).first()
            if role is not None:
                user.roles.add(role)
    except IntegrityError:
        raise AccountConflict("The username or email is already taken.",
                              _duplicate_errors(username, email) or {"username": ["Already taken."]},
                              code="unique") from None
    invalidate_roles_cache()
    return user


def update_user(user: User, *, acting_user: User, changes: dict, password: str | None = None,
                role_codes: list[str] | None = None) -> User:
    """An admin's change to a user: plain fields, the password and the roles, in one transaction.

    Admins may not lock themselves out (deactivate themselves or drop their own admin rights):
    the platform must always keep the admin who is making the change.
    """
    if user.pk == acting_user.pk:
        errors = {}
        if changes.get("is_active") is False:
            errors["is_active"] = ["You cannot deactivate your own account."]
        keeps_admin = changes.get("is_superuser", user.is_superuser) or (
            RoleCode.ADMIN in (role_codes if role_codes is not None else user.role_codes))
        if not keeps_admin:
            errors["roles"] = ["You cannot remove your own admin rights."]
        if errors:
            raise AccountConflict("You cannot lock yourself out.", errors, code="self_lockout")
    try:
        with transaction.atomic():
            for name, value in changes.items():
                setattr(user, name, value)
            if password:
                user.set_password(password)
            user.save()
            if role_codes is not None:
                user.roles.set(Role.objects.filter(code__in=role_codes))
                user.forget_roles()
    except IntegrityError:
        raise AccountConflict("The username or email is already taken.",
                              _duplicate_errors(changes.get("username"), changes.get("email"), user.pk),
                              code="unique") from None
    if role_codes is not None:
        invalidate_roles_cache()
    return user


PROFILE_FIELDS = ("full_name", "email", "phone")


def update_profile(user: User, *, changes: dict, password: str | None = None) -> User:
    """A user's change to its own profile: only full name, email, phone and the password (the
    caller has already checked the current password)."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise AccountConflict("You may not change these fields.",
                              {name: ["You may not change this field."] for name in sorted(unknown)},
                              code="forbidden_field")
    try:
        with transaction.atomic():
            for name, value in changes.items():
                setattr(user, name, value)
            if password:
                user.set_password(password)
            user.save()
    except IntegrityError:
        raise AccountConflict("The email is already taken.",
                              _duplicate_errors(None, changes.get("email"), user.pk), code="unique") from None
    return user


def delete_user(user: User, *, acting_user: User) -> None:
    """Deletes a user (never the one asking); the roles list's holder counts change, so the roles
    cache is invalidated."""
    if user.pk == acting_user.pk:
        raise AccountConflict("You cannot delete your own account.", code="self_delete")
    user.delete()
    invalidate_roles_cache()


# --- login lock-out ----------------------------------------------------------------------------

@dataclass
class LoginBlocked(Exception):
    """Raised while a username or a client address is locked out; ``retry_after`` in seconds."""

    retry_after: int


def _digest(value: str) -> str:
    # Client-chosen text never goes into a cache key as it is: bounded length, no odd characters.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _failure_keys(username: str, address: str) -> list[str]:
    return [f"accounts:login-fail:user:{_digest(username.lower())}", f"accounts:login-fail:addr:{_digest(address)}"]


def _check_lockout(keys: list[str]) -> None:
    now = time.time()
    for key in keys:
        until = cache.get(f"{key}:until")
        if until and until > now:
            raise LoginBlocked(retry_after=max(1, math.ceil(until - now)))


def _record_failure(keys: list[str]) -> None:
    """Counts a failure per key with an atomic ``incr`` (two workers failing at once both count);
    reaching the limit locks the key out for LOGIN_LOCKOUT_SECONDS."""
    window = settings.LOGIN_LOCKOUT_SECONDS
    for key in keys:
        cache.add(key, 0, window)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, window)
            count = 1
        if count >= settings.LOGIN_MAX_FAILURES:
            cache.set(f"{key}:until", time.time() + window, window)
            cache.delete(key)


def login(*, username: str, password: str, address: str, request=None) -> User | None:
    """Checks credentials with a per-username and per-address lock-out after repeated failures.

    Raises :class:`LoginBlocked` while locked out; returns the user, or None for bad credentials
    (an inactive user counts as bad credentials). A success updates ``last_login`` and clears the
    username's failure count (not the address's: one right guess must not reset a spray).
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
    """A fresh access/refresh pair for ``user``, in the login response's shape."""
    refresh = RefreshToken.for_user(user)
    access = refresh.access_token
    return {
        "access_token": str(access),
        "refresh_token": str(refresh),
        "token_type": "bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


# --- roles cache -------------------------------------------------------------------------------

def roles_list_cache_key(full_path: str) -> str:
    """The cache key of one roles-list page (per query string), under the current version."""
    return f"accounts:roles:list:v{roles_cache_version()}:{_digest(full_path)}"


def roles_cache_version() -> int:
    """The roles list's cache generation; bumping it (see below) makes every cached page stale."""
    return cache.get_or_set(ROLES_CACHE_VERSION_KEY, 1, None)


def invalidate_roles_cache() -> None:
    """Called on every write to roles or user-roles: one atomic increment, no key scan."""
    try:
        cache.incr(ROLES_CACHE_VERSION_KEY)
    except ValueError:
        cache.set(ROLES_CACHE_VERSION_KEY, 2, None)


def set_user_roles(user: User, role_codes: list[str]) -> None:
    """Replaces a user's roles (unknown codes are ignored) and invalidates the roles cache."""
    user.roles.set(Role.objects.filter(code__in=role_codes))
    user.forget_roles()
    invalidate_roles_cache()


def save_role(role: Role, changes: dict) -> Role:
    """Creates or changes a role. The built-in roles' codes are fixed: permissions are keyed by them."""
    if role.pk and "code" in changes and changes["code"] != role.code and role.code in RoleCode.values:
        raise AccountConflict("The code of a built-in role cannot change.",
                              {"code": ["The code of a built-in role cannot change."]}, code="builtin_role")
    for name, value in changes.items():
        setattr(role, name, value)
    try:
        with transaction.atomic():
            role.save()
    except IntegrityError:
        raise AccountConflict("A role with that code already exists.",
                              {"code": ["A role with that code already exists."]}, code="unique") from None
    invalidate_roles_cache()
    return role


class RoleInUse(Exception):
    """The role cannot be deleted: ``holders`` users hold it, or it is built in (holders may be 0)."""

    def __init__(self, holders: int, builtin: bool = False):
        super().__init__(holders)
        self.holders, self.builtin = holders, builtin


def delete_role(role: Role) -> None:
    """Deletes a role no user holds; raises :class:`RoleInUse` when users hold it or it is built in.

    The row is locked while counting so that a concurrent assignment cannot slip in between the
    count and the delete (the assignment would be silently dropped by the cascade).
    """
    with transaction.atomic():
        locked = Role.objects.select_for_update().get(pk=role.pk)
        holders = locked.users.count()
        if locked.code in RoleCode.values:
            raise RoleInUse(holders, builtin=True)
        if holders:
            raise RoleInUse(holders)
        locked.delete()
    invalidate_roles_cache()
