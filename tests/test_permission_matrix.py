"""Every API endpoint x {anonymous, viewer, operator, admin} -> the expected status.

The list of endpoints comes from the URL conf, so a new endpoint without a matrix entry fails
``test_every_api_endpoint_has_a_matrix_entry``.
"""
from __future__ import annotations

from importlib import import_module

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import client_for
from tests.matrix import ROLES, Ctx, Endpoint

APPS = ("aimonitor", "accounts", "algorithms", "streams", "alerts", "faces")


def declared_endpoints() -> list[Endpoint]:
    endpoints: list[Endpoint] = []
    for app in APPS:
        try:
            module = import_module(f"tests.{app}.matrix")
        except ModuleNotFoundError as exc:
            if exc.name not in (f"tests.{app}", f"tests.{app}.matrix"):
                raise
            continue
        endpoints += module.ENDPOINTS
    return endpoints


def discovered_routes() -> set[tuple[str, str]]:
    """(url name, METHOD) for every DRF view under /api/ (and the docs pages)."""
    found: set[tuple[str, str]] = set()

    def walk(patterns, namespace, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or namespace
                walk(p.url_patterns, ns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                cls = getattr(p.callback, "cls", None)
                if cls is None or not p.name:
                    continue
                if not (route.lstrip("^").startswith("api/") or p.name in ("swagger-ui", "redoc")):
                    continue
                name = f"{namespace}:{p.name}" if namespace else p.name
                actions = getattr(p.callback, "actions", None)
                if actions:
                    methods = {m.upper() for m in actions if m not in ("options", "head")}
                else:
                    methods = {m.upper() for m in cls.http_method_names
                               if m not in ("options", "head", "trace") and hasattr(cls, m)}
                found.update((name, m) for m in methods)

    walk(get_resolver().url_patterns, None, "")
    return found


def test_every_api_endpoint_has_a_matrix_entry():
    declared = {(e.url_name, e.method) for e in declared_endpoints()}
    missing = sorted(discovered_routes() - declared)
    assert not missing, f"endpoints without a permission-matrix entry: {missing}"


def test_every_matrix_entry_is_a_real_route():
    stale = sorted({(e.url_name, e.method) for e in declared_endpoints()} - discovered_routes())
    assert not stale, f"matrix entries for routes that do not exist: {stale}"


CASES = [(e, role) for e in declared_endpoints() for role in ROLES]


@pytest.mark.django_db
@pytest.mark.parametrize(("endpoint", "role"), CASES,
                         ids=[f"{e.method} {e.url_name} {e.note} [{r}]".replace("  ", " ") for e, r in CASES])
def test_permission_matrix(endpoint: Endpoint, role: str, make_user, request):
    user = make_user(role) if role != "anonymous" else None
    ctx = Ctx(user=user, make_user=make_user, request=request)
    kwargs = endpoint.kwargs(ctx) if endpoint.kwargs else {}
    url = reverse(endpoint.url_name, kwargs=kwargs)
    data = endpoint.data(ctx) if callable(endpoint.data) else endpoint.data
    client = client_for(user)
    call = getattr(client, endpoint.method.lower())
    if endpoint.method == "GET":
        response = call(url, endpoint.query or {})
    else:
        if endpoint.query:
            from urllib.parse import urlencode

            url = f"{url}?{urlencode(endpoint.query)}"
        response = call(url, data, format=endpoint.format)
    expected = endpoint.expected[role]
    assert response.status_code == expected, (
        f"{endpoint.method} {url} as {role}: expected {expected}, got {response.status_code}: "
        f"{getattr(response, 'content', b'')[:300]!r}"
    )
    if response.status_code >= 400 and response.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        assert {"code", "detail", "errors"} <= set(body), body
