"""The OpenAPI document: served, valid, and every operation documented with a summary, examples and
the bearer-auth scheme."""
from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_the_schema_is_served_and_valid(api_client, document):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    served = response.json()
    assert served["openapi"].startswith("3.")
    assert served["paths"].keys() == document["paths"].keys()
    validate_schema(served)


def test_docs_pages_are_served(api_client):
    for path in ("/docs", "/redoc"):
        response = api_client.get(path)
        assert response.status_code == 200
        assert b"/api/schema" in response.content


def test_every_operation_has_a_summary(document):
    missing = [label for label, op in _operations(document) if not op.get("summary")]
    assert not missing, f"operations without a summary: {missing}"


# Machine-to-machine endpoints whose caller cannot hold a JWT, each with how it is authenticated.
NOT_BEARER = {
    "POST /api/zlm/hooks/{hook}/": "ZLMediaKit cannot log in: the shared secret travels as ?secret=",
}


def test_every_operation_names_the_bearer_scheme(document):
    scheme = document["components"]["securitySchemes"]["jwtAuth"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    labels = dict(_operations(document))
    missing = [label for label, op in labels.items()
               if label not in NOT_BEARER and not any("jwtAuth" in req for req in op.get("security", []))]
    assert not missing, f"operations without the bearer scheme: {missing}"
    assert set(NOT_BEARER) <= set(labels), "stale NOT_BEARER entries"


# Gaps found in other apps' documentation when this test arrived; their owners add the examples and
# remove the entries (the test fails on an entry that is no longer missing, so the list only shrinks).
KNOWN_MISSING_EXAMPLES: set[str] = set()


def test_every_request_body_has_an_example(document):
    missing = set()
    for label, op in _operations(document):
        for media_type, content in op.get("requestBody", {}).get("content", {}).items():
            if media_type == "application/json" and not (content.get("examples") or content.get("example")):
                missing.add(label)
    assert not missing - KNOWN_MISSING_EXAMPLES, f"request bodies without an example: {missing}"
    assert not KNOWN_MISSING_EXAMPLES - missing, "KNOWN_MISSING_EXAMPLES lists operations that now have examples"


def test_errors_are_documented_in_the_shared_shape(document):
    error = document["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "detail", "errors"}
    login = document["paths"]["/api/auth/login/"]["post"]["responses"]
    assert {"200", "400", "401", "429"} <= set(login)
    assert login["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
