from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from accounts.models import Client, Device, Favourite, LoginSession, OtpCode
from accounts.services import accounts_anonymise_due
from accounts.tests.support import PHONE_A, assert_error, authed, login
from charging.session.limits import Limit
from charging.session.start import session_open
from charging.tests.support import fund, online
from stations.services import station_create
from stations.tests.factories import LocationFactory, TariffPlanFactory, TariffRuleFactory

ME = "/api/v1/me"


def test_me_reads_and_updates_the_profile_but_not_the_phone(db):
    api = authed(login()["access"])
    response = api.patch(
        ME,
        {
            "name": "Aibek",
            "email": "a@example.kg",
            "language": "ky",
            "phone": "+996555000000",
            "status": "blocked",
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["email"], body["language"]) == ("Aibek", "a@example.kg", "ky")
    assert body["phone"] == PHONE_A and body["status"] == "active"
    assert api.get(ME).json() == body


def test_invalid_profile_values_are_validation_errors(db):
    api = authed(login()["access"])
    error = assert_error(
        api.patch(ME, {"email": "nope", "language": "de"}, format="json"), 400, "VALIDATION_ERROR"
    )
    assert set(error["details"]["fields"]) == {"email", "language"}


def test_without_a_chosen_language_answers_follow_accept_language(db):
    api = authed(login()["access"])
    for asked, expected in (
        ("ru", "Некоторые поля заполнены неверно."),
        ("en", "Some fields are invalid."),
    ):
        error = assert_error(
            api.patch(ME, {"email": "nope"}, format="json", HTTP_ACCEPT_LANGUAGE=asked),
            400,
            "VALIDATION_ERROR",
        )
        assert error["message"] == expected


def test_a_chosen_language_can_be_cleared_to_follow_the_app_again(db):
    api = authed(login()["access"])
    api.patch(ME, {"language": "ky"}, format="json")
    assert api.patch(ME, {"language": ""}, format="json").json()["language"] == ""
    error = assert_error(
        api.patch(ME, {"email": "nope"}, format="json", HTTP_ACCEPT_LANGUAGE="en"),
        400,
        "VALIDATION_ERROR",
    )
    assert error["message"] == "Some fields are invalid."


def test_errors_use_the_clients_language(db):
    api = authed(login()["access"])
    api.patch(ME, {"language": "ru"}, format="json")
    error = assert_error(
        api.patch(ME, {"email": "nope"}, format="json", HTTP_ACCEPT_LANGUAGE="en"),
        400,
        "VALIDATION_ERROR",
    )
    assert error["message"] == "Некоторые поля заполнены неверно."


def test_delete_request_sets_pending_deletion_and_logs_out_everywhere(db):
    first, second = login(), login()
    response = authed(first["access"]).post(f"{ME}/delete")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending_deletion"
    client = Client.objects.get(phone=PHONE_A)
    assert client.status == Client.Status.PENDING_DELETION and client.deletion_requested_at
    assert not LoginSession.objects.filter(revoked_at__isnull=True).exists()
    assert_error(authed(second["access"]).get(ME), 401, "TOKEN_INVALID")


def test_pending_deletion_client_may_read_and_log_out_but_not_write(db):
    tokens = login()
    Client.objects.filter(pk=tokens["client"]["id"]).update(
        status=Client.Status.PENDING_DELETION, deletion_requested_at=timezone.now()
    )
    api = authed(tokens["access"])
    assert api.get(ME).status_code == 200
    assert_error(api.patch(ME, {"name": "x"}, format="json"), 403, "ACCOUNT_PENDING_DELETION")
    assert api.post("/api/v1/auth/logout").status_code == 204


def _client_pending_deletion(days_ago: int) -> Client:
    tokens = login()
    api = authed(tokens["access"])
    api.patch(ME, {"name": "Aibek", "email": "a@example.kg"}, format="json")
    location = LocationFactory(name="Ala-Too")
    api.post(f"{ME}/favourites", {"location": location.pk}, format="json")
    api.post(f"{ME}/devices", {"kind": "fcm", "token": "fcm-token-1"}, format="json")
    api.post(f"{ME}/delete")
    client = Client.objects.get(pk=tokens["client"]["id"])
    Client.objects.filter(pk=client.pk).update(
        deletion_requested_at=timezone.now() - timedelta(days=days_ago)
    )
    return client


def test_anonymisation_after_grace_wipes_personal_data(db):
    client = _client_pending_deletion(days_ago=31)
    assert accounts_anonymise_due(now=timezone.now()) == [client.pk]
    client.refresh_from_db()
    assert client.status == Client.Status.DELETED
    assert client.phone == f"deleted:{client.pk}" and client.phone != PHONE_A
    assert (client.name, client.email) == ("", "")
    assert not Device.objects.filter(client=client).exists()
    assert not Favourite.objects.filter(client=client).exists()
    assert not LoginSession.objects.filter(client=client).exists()
    assert not OtpCode.objects.filter(phone=PHONE_A).exists()
    assert accounts_anonymise_due(now=timezone.now()) == []  # twice is harmless


def test_the_number_of_an_anonymised_client_can_sign_up_again(db):
    old = _client_pending_deletion(days_ago=31)
    accounts_anonymise_due(now=timezone.now())
    tokens = login(phone=PHONE_A)
    assert tokens["created"] is True and tokens["client"]["id"] != old.pk


def test_clients_inside_the_grace_period_are_kept(db):
    client = _client_pending_deletion(days_ago=29)
    assert accounts_anonymise_due(now=timezone.now()) == []
    client.refresh_from_db()
    assert client.phone == PHONE_A and client.name == "Aibek"


def test_anonymise_command_dry_run_changes_nothing(db):
    client = _client_pending_deletion(days_ago=31)
    out = StringIO()
    call_command("anonymise_clients", "--dry-run", stdout=out)
    assert f"1 client(s) due: {client.pk}" in out.getvalue()
    client.refresh_from_db()
    assert client.status == Client.Status.PENDING_DELETION
    call_command("anonymise_clients", stdout=out)
    client.refresh_from_db()
    assert client.status == Client.Status.DELETED


def test_deletion_is_refused_while_a_session_charges_and_nothing_is_logged_out(db):

    TariffRuleFactory(plan=TariffPlanFactory(name="p", is_default=True), price_per_kwh="12.00")
    station = online(
        station_create(
            identity="CP-DEL", location_name="Depot", connectors=1, generate_password=True
        ).station
    )
    tokens = login()
    client = Client.objects.get(phone=PHONE_A)
    fund(client, "100.00")
    session = session_open(
        client=client, station_id=station.pk, connector_number=1, limit=Limit("none")
    )
    api = authed(tokens["access"])

    error = assert_error(api.post(f"{ME}/delete"), 409, "SESSION_ACTIVE")

    assert error["details"]["sessions"] == [session.pk]
    assert "Stop it first" in error["message"]
    assert Client.objects.get(pk=client.pk).status == Client.Status.ACTIVE
    assert api.get(ME).status_code == 200  # still logged in: the driver can stop it
