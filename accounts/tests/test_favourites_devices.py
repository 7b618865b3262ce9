from __future__ import annotations

import pytest

from accounts.models import Device, Favourite
from accounts.tests.support import PHONE_B, assert_error, authed, login
from stations.tests.factories import LocationFactory

FAV, DEV = "/api/v1/me/favourites", "/api/v1/me/devices"
SUBSCRIPTION = {
    "endpoint": "https://push.example.org/send/abc",
    "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA", "auth": "tBHItJI5svbpez"},
}


@pytest.fixture
def two_clients(db):
    return authed(login()["access"]), authed(login(phone=PHONE_B)["access"])


def test_favourites_add_list_remove(two_clients):
    api, _ = two_clients
    location = LocationFactory(name="Ala-Too", city="Bishkek")
    assert api.post(FAV, {"location": location.pk}, format="json").status_code == 201
    assert api.post(FAV, {"location": location.pk}, format="json").status_code == 200
    body = api.get(FAV).json()
    assert body["count"] == 1
    assert body["results"][0]["location"]["name"] == "Ala-Too"
    assert api.delete(f"{FAV}/{location.pk}").status_code == 204
    assert api.get(FAV).json()["count"] == 0


def test_favourite_of_unknown_location_is_a_validation_error(two_clients):
    api, _ = two_clients
    error = assert_error(
        api.post(FAV, {"location": 999999}, format="json"), 400, "VALIDATION_ERROR"
    )
    assert "location" in error["details"]["fields"]


def test_devices_register_upsert_list_remove(two_clients):
    api, _ = two_clients
    created = api.post(DEV, {"kind": "fcm", "token": "fcm-1"}, format="json")
    assert created.status_code == 201
    assert api.post(DEV, {"kind": "fcm", "token": "fcm-1"}, format="json").status_code == 200
    push = api.post(DEV, {"kind": "webpush", "subscription": SUBSCRIPTION}, format="json")
    assert push.status_code == 201 and push.json()["token"] == SUBSCRIPTION["endpoint"]
    assert api.get(DEV).json()["count"] == 2
    assert api.delete(f"{DEV}/{created.json()['id']}").status_code == 204
    assert api.get(DEV).json()["count"] == 1


def test_device_input_is_validated(two_clients):
    api, _ = two_clients
    assert_error(api.post(DEV, {"kind": "fcm"}, format="json"), 400, "VALIDATION_ERROR")
    assert_error(
        api.post(
            DEV,
            {
                "kind": "webpush",
                "subscription": {**SUBSCRIPTION, "endpoint": "http://insecure.example.org/x"},
            },
            format="json",
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert_error(
        api.post(DEV, {"kind": "sms", "token": "x"}, format="json"), 400, "VALIDATION_ERROR"
    )


def test_a_token_registered_again_moves_to_the_new_owner(two_clients):
    api_a, api_b = two_clients
    api_a.post(DEV, {"kind": "fcm", "token": "shared-phone"}, format="json")
    api_b.post(DEV, {"kind": "fcm", "token": "shared-phone"}, format="json")
    assert api_a.get(DEV).json()["count"] == 0
    assert api_b.get(DEV).json()["count"] == 1


def test_ownership_matrix_other_clients_ids_are_not_found(two_clients):
    api_a, api_b = two_clients
    location = LocationFactory(name="Only B likes it")
    api_b.post(FAV, {"location": location.pk}, format="json")
    device_b = api_b.post(DEV, {"kind": "fcm", "token": "fcm-b"}, format="json").json()["id"]

    assert_error(api_a.delete(f"{FAV}/{location.pk}"), 404, "NOT_FOUND")
    assert_error(api_a.delete(f"{DEV}/{device_b}"), 404, "NOT_FOUND")
    assert api_a.get(FAV).json()["count"] == 0
    assert api_a.get(DEV).json()["count"] == 0
    # B's data is untouched
    assert Favourite.objects.filter(location=location).count() == 1
    assert Device.objects.filter(pk=device_b).exists()
    # and an id that does not exist answers exactly the same
    assert_error(api_a.delete(f"{DEV}/999999"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/me"),
        ("patch", "/api/v1/me"),
        ("post", "/api/v1/me/delete"),
        ("get", FAV),
        ("post", FAV),
        ("delete", f"{FAV}/1"),
        ("get", DEV),
        ("post", DEV),
        ("delete", f"{DEV}/1"),
        ("post", "/api/v1/auth/logout"),
        ("post", "/api/v1/auth/logout-all"),
    ],
)
def test_every_private_endpoint_needs_a_token(db, api, method, path):
    assert_error(getattr(api, method)(path, {}, format="json"), 401, "UNAUTHENTICATED")
