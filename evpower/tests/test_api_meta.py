"""GET /api/v1/version, CORS, and the OpenAPI schema and docs page."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

ALLOWED = "https://app.evpower.example"


def test_version_comes_from_settings_and_ignores_tokens(client, settings):
    settings.APP_MINIMUM_VERSION = "1.4.0"
    settings.APP_LATEST_VERSION = "1.6.2"
    # an expired or garbage token must not stop an old app from learning it must update
    response = client.get("/api/v1/version", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 200
    assert response.json() == {
        "minimum_app_version": "1.4.0",
        "latest_app_version": "1.6.2",
        "api_version": "1",
    }
    assert "max-age" in response["Cache-Control"]


@pytest.fixture
def cors(settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED]


def preflight(client, origin, path="/api/v1/version", headers="authorization"):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


def test_cors_preflight_from_an_allowed_origin(client, cors):
    response = preflight(client, ALLOWED, headers="authorization,content-type,idempotency-key")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    allowed_headers = response["Access-Control-Allow-Headers"].split(", ")
    assert {"authorization", "content-type", "idempotency-key"} <= set(allowed_headers)
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response


def test_cors_preflight_from_another_origin_is_not_allowed(client, cors):
    response = preflight(client, "https://evil.example")
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Origin" not in preflight(client, "http://app.evpower.example")


def test_cors_actual_request_exposes_retry_after(client, cors):
    response = client.get("/api/v1/version", HTTP_ORIGIN=ALLOWED)
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert "Retry-After" in response["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in client.get(
        "/api/v1/version", HTTP_ORIGIN="https://evil.example"
    )


def test_cors_is_only_for_the_api(client, cors):
    assert "Access-Control-Allow-Origin" not in preflight(client, ALLOWED, path="/admin/login/")


def test_no_origin_is_allowed_by_default(client):
    assert "Access-Control-Allow-Origin" not in preflight(client, ALLOWED)


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_schema_is_served_without_auth_and_documents_the_conventions(client):
    response = client.get("/api/schema/?format=json", HTTP_AUTHORIZATION="Bearer garbage")
    assert response.status_code == 200
    served = response.json()
    components = served["components"]
    assert components["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": components["securitySchemes"]["bearerAuth"]["description"],
    }
    assert components["schemas"]["ErrorEnvelope"]["properties"]["error"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert set(components["schemas"]["Error"]["required"]) == {"code", "message", "details"}
    version = served["paths"]["/api/v1/version"]["get"]
    assert version["operationId"] == "version_retrieve"
    assert set(version["responses"]) == {"200", "429"}  # no token read: no 401/403


def test_every_operation_documents_its_errors_with_the_envelope(schema):
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        assert "429" in responses, where
        assert "Retry-After" in responses["429"]["headers"], where
        if any(operation.get("security", [])):
            assert "401" in responses, where
        if "{" in path:
            assert "404" in responses, where
        for code, response in responses.items():
            if code.startswith("4") and "content" in response:
                assert response["content"]["application/json"]["schema"] == envelope, (where, code)


def test_operation_ids_are_unique(schema):
    ids = [operation["operationId"] for _, _, operation in operations(schema)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_schema_is_valid_and_generates_without_warnings(django_db_blocker):
    # what `manage.py spectacular --validate --fail-on-warn` checks: a client generator needs it
    GENERATOR_STATS.reset()
    with django_db_blocker.unblock():
        generated = SchemaGenerator().get_schema(request=None, public=True)
    problems = sorted({**GENERATOR_STATS._warn_cache, **GENERATOR_STATS._error_cache})
    assert problems == []
    validate_schema(generated)


def test_docs_page_uses_local_static_files_not_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    # every script and stylesheet is ours (a random nonce may spell "cdn": look at URLs)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith("/") for url in assets), assets
    # the start-up script is a file of its own (no inline script for the CSP to allow)
    start_up = next(url for url in assets if url.startswith("/api/docs/"))
    assert "/api/schema/" in client.get(start_up.replace("&amp;", "&")).content.decode()
