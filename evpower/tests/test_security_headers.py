"""Security headers on what browsers see: the admin, the API docs and the API
(docs/product.md §6)."""

from __future__ import annotations

import re

import pytest


def _directives(header: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in header.split(";") if part)}


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/", "/api/v1/version"])
def test_pages_carry_the_security_headers(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = _directives(response["Content-Security-Policy"])
    # the admin theme's Alpine.js compiles its attribute expressions: 'unsafe-eval' there
    # only (cockpit/middleware.py); inline script stays forbidden everywhere
    expected = ["'self'", "'unsafe-eval'"] if path.startswith("/admin/") else ["'self'"]
    assert policy["script-src"] == expected
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]


def test_only_the_admin_gets_the_wider_policy_and_its_map_tiles(client):
    api = _directives(client.get("/api/v1/version")["Content-Security-Policy"])
    admin = _directives(client.get("/admin/login/")["Content-Security-Policy"])

    assert "'unsafe-eval'" not in api["script-src"]
    assert api["img-src"] == ["'self'", "data:"]
    assert admin["img-src"] == ["'self'", "data:", "https://tile.openstreetmap.org"]


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/"])
def test_pages_have_no_inline_script_the_policy_would_block(client, path):
    html = client.get(path).content.decode()

    inline = [
        tag
        for tag in re.findall(r"<script\b[^>]*>", html)
        if "src=" not in tag and "application/json" not in tag
    ]
    assert inline == []


def test_swagger_start_up_script_is_served_from_our_origin(client):
    html = client.get("/api/docs/").content.decode()
    script_urls = [url.replace("&amp;", "&") for url in re.findall(r'<script src="([^"]+)"', html)]
    own = [url for url in script_urls if url.startswith("/api/docs/")]

    assert own, script_urls
    response = client.get(own[0])
    assert response.status_code == 200
    assert "SwaggerUIBundle" in response.content.decode()


def test_hsts_is_sent_on_https_requests(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000

    secure = client.get("/api/v1/version", secure=True)
    plain = client.get("/api/v1/version")

    assert secure["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in plain


def test_session_and_csrf_cookies_are_http_only(settings):
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.CSRF_COOKIE_HTTPONLY is True
