"""gzip where it is safe: large API reads are compressed; answers holding a secret, POST
answers and the admin's pages never are (BREACH)."""

from __future__ import annotations

import gzip
import json
import uuid

import pytest
from django.test import Client

from stations.services import station_create

pytestmark = pytest.mark.django_db

GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}


@pytest.fixture(autouse=True)
def own_cache(settings):
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


def map_of(locations: int) -> None:
    for n in range(locations):
        station_create(
            identity=f"CP-GZ-{n}",
            location_name=f"Location number {n} with a long enough name",
            connectors=2,
            password="gzip-test-password-1",  # noqa: S106 - test credential
        )


def test_a_large_api_read_is_gzipped_and_says_so():
    map_of(12)

    response = Client().get("/api/v1/locations", **GZIP)

    assert response["Content-Encoding"] == "gzip" and "Accept-Encoding" in response["Vary"]
    body = json.loads(gzip.decompress(response.content))
    plain = Client().get("/api/v1/locations")  # no Accept-Encoding: as it was
    assert "Content-Encoding" not in plain and body == plain.json()
    assert len(response.content) < len(plain.content)


def test_a_small_api_read_is_sent_as_it_is():
    response = Client().get("/api/v1/version", **GZIP)
    assert response.status_code == 200 and "Content-Encoding" not in response


def test_answers_that_may_hold_a_secret_are_never_compressed(settings):
    from accounts.tests.factories import ClientFactory
    from accounts.tokens import session_start

    settings.COMPRESS_MIN_BYTES = 1  # their size is not what keeps them plain
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from payments.models import Payment

    driver = ClientFactory(phone="+996700555001")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {session_start(client=driver).access}"}
    for n in range(3):  # a list well over 200 bytes (below that gzip never bothers)
        Payment.objects.create(
            client=driver,
            provider="odengi",
            order_id=f"EVP-GZ-{n}",
            amount=Decimal("100.00"),
            checkout={"qr": "https://pay.example/qr?sig=" + "s" * 64},
            expires_at=timezone.now() + timedelta(minutes=30),
        )

    topups = Client().get("/api/v1/wallet/topups", **GZIP, **bearer)  # checkout links
    login = Client().post(  # an answer to input, with tokens in it when it succeeds
        "/api/v1/auth/otp/verify",
        {"phone": "+996700555001", "code": "000000"},
        content_type="application/json",
        **GZIP,
    )
    admin = Client().get("/admin/login/", **GZIP)  # a CSRF token next to what was typed

    assert topups.status_code == 200 and len(topups.content) > 600
    assert "Content-Encoding" not in topups
    assert "Content-Encoding" not in login
    assert admin.status_code == 200 and "Content-Encoding" not in admin
