"""The permission matrix's vocabulary. Each app lists its endpoints in ``tests/<app>/matrix.py`` as
``ENDPOINTS = [Endpoint(...), ...]``; ``tests/test_permission_matrix.py`` checks that every API
route in the URL conf has an entry and that each role gets the expected status."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROLES = ("anonymous", "viewer", "operator", "admin")


@dataclass
class Ctx:
    """What a matrix entry may use to build its objects and request."""

    user: Any  # the acting user, None for anonymous
    make_user: Callable
    request: Any  # the pytest request, for getfixturevalue

    def fixture(self, name: str):
        return self.request.getfixturevalue(name)


@dataclass
class Endpoint:
    method: str
    url_name: str  # "namespace:name"
    expected: dict[str, int]  # role -> status code
    kwargs: Callable[[Ctx], dict] | None = None  # builds objects, returns URL kwargs
    data: Callable[[Ctx], Any] | dict | None = None
    format: str = "json"  # json | multipart
    query: dict | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def expect(anonymous: int, viewer: int, operator: int, admin: int) -> dict[str, int]:
    return {"anonymous": anonymous, "viewer": viewer, "operator": operator, "admin": admin}


# Common shapes.
PUBLIC = expect(200, 200, 200, 200)
READ = expect(401, 200, 200, 200)
ADMIN_ONLY_READ = expect(401, 403, 403, 200)


def admin_write(ok: int) -> dict[str, int]:
    return expect(401, 403, 403, ok)


def operator_write(ok: int) -> dict[str, int]:
    return expect(401, 403, ok, ok)
