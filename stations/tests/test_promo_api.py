"""/api/v1/me/promo-codes, and `your_price` on the map details (real client tokens)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import Client
from accounts.tests.factories import ClientFactory
from accounts.tokens import session_start
from stations.station_models import Connector, Station
from stations.tariff_models import ClientTariff, PromoCode, PromoRedemption
from stations.tests.factories import LocationFactory

from .support import plan, rule

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/promo-codes"


@pytest.fixture(autouse=True)
def own_cache(settings):
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


@pytest.fixture
def client_a():
    return ClientFactory(phone="+996700400001", language="en")


def authed(client: Client) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {session_start(client=client).access}")
    return api


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert body["error"]["message"] and body["error"]["message"] != code
    return body["error"]


@pytest.fixture
def station():
    rule(plan("Default", default=True), per_kwh="20.00")
    location = LocationFactory(name="Ala-Too")
    station = Station.objects.create(identity="CP-PROMO", location=location)
    Connector.objects.create(station=station, number=1, connector_type="Type2")
    return station


def test_redeem_then_list(client_a):
    PromoCode.objects.create(code="WELCOME", discount_percent=Decimal("15"), benefit_days=30)
    api = authed(client_a)
    created = api.post(URL, {"code": "welcome"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["code"] == "WELCOME" and body["discount_percent"] == "15.00"
    assert body["in_force"] is True and body["expires_at"]
    again = api.post(URL, {"code": "WELCOME"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    listed = api.get(URL)
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["results"]] == [body["id"]]


def test_redemptions_are_private(client_a):
    code = PromoCode.objects.create(code="MINE", discount_percent=5)
    other = ClientFactory(phone="+996700400002")
    PromoRedemption.objects.create(client=other, code=code, redeemed_at=code.created_at)
    assert authed(client_a).get(URL).json()["results"] == []


def test_errors_use_the_envelope(client_a):
    api = authed(client_a)
    assert_error(api.post(URL, {"code": "NOPE"}, format="json"), 404, "PROMO_NOT_FOUND")
    PromoCode.objects.create(code="ONE", discount_percent=5, max_redemptions=1)
    PromoRedemption.objects.create(
        client=ClientFactory(phone="+996700400003"),
        code=PromoCode.objects.get(),
        redeemed_at="2026-01-01T00:00Z",
        expires_at="2026-01-02T00:00Z",
    )
    assert_error(api.post(URL, {"code": "one"}, format="json"), 409, "PROMO_EXHAUSTED")
    assert_error(api.post(URL, {}, format="json"), 400, "VALIDATION_ERROR")


def test_promo_endpoints_need_a_client():
    assert_error(APIClient().get(URL), 401, "UNAUTHENTICATED")
    assert_error(APIClient().post(URL, {"code": "X"}, format="json"), 401, "UNAUTHENTICATED")


def test_blocked_clients_cannot_redeem(client_a):
    api = authed(client_a)
    Client.objects.filter(pk=client_a.pk).update(status=Client.Status.BLOCKED)
    response = api.post(URL, {"code": "X"}, format="json")
    assert response.status_code in (401, 403)


def connector_json(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    stations = body["stations"] if "stations" in body else [body]
    return stations[0]["connectors"][0]


@pytest.mark.parametrize("path", ["/api/v1/stations/{station}", "/api/v1/locations/{location}"])
def test_your_price_only_for_an_authenticated_client(client_a, station, path):
    path = path.format(station=station.pk, location=station.location_id)
    ClientTariff.objects.create(client=client_a, price_per_kwh=Decimal("12.00"))
    PromoCode.objects.create(code="TEN", discount_percent=10)
    authed(client_a).post(URL, {"code": "TEN"}, format="json")

    public = connector_json(APIClient().get(path))
    assert "your_price" not in public and public["price"]["per_kwh"] == "20.00"

    mine = connector_json(authed(client_a).get(path))
    assert mine["price"]["per_kwh"] == "20.00"  # the plan price is still shown
    assert mine["your_price"]["per_kwh"] == "12.00"
    assert mine["your_price"]["discount_percent"] == "10.00"
    assert mine["your_price"]["discount_source"] == "promo"
    assert mine["your_price"]["promo_code"] == "TEN" and mine["your_price"]["fixed_rate"]

    # another client sees the plan price as theirs
    other = connector_json(authed(ClientFactory(phone="+996700400009")).get(path))
    assert other["your_price"]["per_kwh"] == "20.00"
    assert other["your_price"]["discount_percent"] == "0.00"


def test_a_bad_token_on_a_public_detail_is_401(station):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert_error(api.get(f"/api/v1/stations/{station.pk}"), 401, "TOKEN_INVALID")
    # other schemes are not ours: the public answer
    api.credentials(HTTP_AUTHORIZATION="Basic Zm9vOmJhcg==")
    assert "your_price" not in connector_json(api.get(f"/api/v1/stations/{station.pk}"))


def test_your_price_is_null_where_nothing_is_for_sale(client_a):
    station = Station.objects.create(identity="CP-NOPLAN", location=LocationFactory(name="Dark"))
    Connector.objects.create(station=station, number=1, connector_type="Type2")
    c = connector_json(authed(client_a).get(f"/api/v1/stations/{station.pk}"))
    assert c["price"] is None and c["your_price"] is None


def test_admin_pages_show_client_tariffs_and_promo_redemption_counts(admin_client, client_a):
    from django.urls import reverse

    code = PromoCode.objects.create(code="ADMIN", discount_percent=5)
    PromoRedemption.objects.create(client=client_a, code=code, redeemed_at=code.created_at)
    ClientTariff.objects.create(client=client_a, discount_percent=Decimal("7"))
    changelist = admin_client.get(reverse("admin:stations_promocode_changelist"))
    assert changelist.status_code == 200
    cell = rb'<td class="field-redemption_count[^"]*"[^>]*>\s*1\s*</td>'
    assert re.search(cell, changelist.content)
    for name in ("admin:stations_promocode_change", "admin:stations_clienttariff_change"):
        obj = code if "promocode" in name else ClientTariff.objects.get()
        assert admin_client.get(reverse(name, args=[obj.pk])).status_code == 200
    for name in ("clienttariff", "promoredemption"):
        assert admin_client.get(reverse(f"admin:stations_{name}_changelist")).status_code == 200
    response = admin_client.post(
        reverse("admin:stations_clienttariff_add"),
        {"client": client_a.pk, "discount_percent": "10", "price_per_kwh": "5", "active": "on"},
    )
    assert response.status_code == 200 and b"not both" in response.content
