"""Role-based permissions shared by every app.

``viewer`` reads, ``operator`` also operates (start/stop tasks, process alerts, manage faces),
``admin`` manages users, roles, algorithms and streams. Superusers are admins.

A view states what each action needs with ``required_roles`` (action or method -> role code); when
it says nothing, safe methods need ``viewer`` and writes need ``admin``.
"""
from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .choices import ROLE_LEVELS, RoleCode


def role_level(user) -> int:
    if user is None or not user.is_authenticated:
        return 0
    return user.role_level


def required_role(view, request) -> str:
    mapping = getattr(view, "required_roles", {}) or {}
    action = getattr(view, "action", None)
    if action and action in mapping:
        return mapping[action]
    if request.method in mapping:
        return mapping[request.method]
    if request.method in SAFE_METHODS:
        return mapping.get("read", RoleCode.VIEWER)
    return mapping.get("write", RoleCode.ADMIN)


class RolePermission(BasePermission):
    """Grants the request when the user's role level reaches what the view's action needs."""

    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return role_level(request.user) >= ROLE_LEVELS[RoleCode(required_role(view, request))]


class IsViewer(RolePermission):
    def has_permission(self, request, view) -> bool:
        return role_level(request.user) >= ROLE_LEVELS[RoleCode.VIEWER]


class IsOperator(RolePermission):
    def has_permission(self, request, view) -> bool:
        return role_level(request.user) >= ROLE_LEVELS[RoleCode.OPERATOR]


class IsAdmin(RolePermission):
    def has_permission(self, request, view) -> bool:
        return role_level(request.user) >= ROLE_LEVELS[RoleCode.ADMIN]
