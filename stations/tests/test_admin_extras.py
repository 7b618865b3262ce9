"""Admin for reservations, charging profiles and local lists: writes go through the
services and the charger's answer (here: that it is offline, or a live one) is shown."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import NoReverseMatch, clear_url_caches, reverse
from django.utils import timezone

import stations.admin_extras  # noqa: F401 - registers the ModelAdmins (stations/admin.py too)
from ocpp_bridge.tests.command_charger import ThreadedCharger
from stations.station_models import (
    ChargingProfile,
    ChargingProfileAssignment,
    LocalListState,
    Reservation,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def admin_urls():
    """Until stations/admin.py imports admin_extras, the URLconf may predate the import."""
    try:
        reverse("admin:stations_reservation_add")
    except NoReverseMatch:
        clear_url_caches()
        importlib.reload(importlib.import_module(settings.ROOT_URLCONF))


def shown(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def profile(**fields) -> ChargingProfile:
    return ChargingProfile.objects.create(
        **{
            "name": "cap",
            "charging_profile_id": 9,
            "purpose": "TxDefaultProfile",
            "kind": "Relative",
            "schedule_periods": [{"startPeriod": 0, "limit": 16}],
            **fields,
        }
    )


def test_adding_a_reservation_sends_reserve_now_and_shows_the_answer(admin_client, make_station):
    # given an offline station
    station = make_station("CP-ADM")
    expires = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")

    # when
    response = admin_client.post(
        reverse("admin:stations_reservation_add"),
        {
            "station": station.pk,
            "connector_number": 1,
            "id_tag": "DRIVER",
            "expires_at_0": expires[:10],
            "expires_at_1": expires[11:],
        },
        follow=True,
    )

    # then the service made it, asked the charger, and said what happened
    reservation = Reservation.objects.get()
    assert (reservation.status, reservation.requested_by) == ("failed", "admin:admin")
    assert shown(response)[0] == (
        "error",
        f"Reservation {reservation.pk} (failed): offline (station is offline)",
    )
    assert station.commands.get().action == "ReserveNow"


def test_reservation_for_a_missing_connector_is_a_form_error(admin_client, make_station):
    station = make_station("CP-ADM", connectors=1)
    expires = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")

    response = admin_client.post(
        reverse("admin:stations_reservation_add"),
        {
            "station": station.pk,
            "connector_number": 4,
            "id_tag": "DRIVER",
            "expires_at_0": expires[:10],
            "expires_at_1": expires[11:],
        },
    )

    assert response.status_code == 200 and "has no connector 4" in response.content.decode()
    assert not Reservation.objects.exists() and not station.commands.exists()


def test_cancel_action_on_an_ended_reservation_sends_nothing(admin_client, make_station):
    station = make_station("CP-ADM")
    r = Reservation.objects.create(
        station=station, connector_number=1, id_tag="D", expires_at=timezone.now(), status="expired"
    )

    response = admin_client.post(
        reverse("admin:stations_reservation_changelist"),
        {"action": "cancel_reservations", "_selected_action": [r.pk]},
        follow=True,
    )

    assert shown(response) == [
        (
            "error",
            f"Cancel reservation {r.pk} (expired): invalid "
            f"(reservation {r.pk} is expired: nothing to cancel)",
        )
    ]


def test_apply_profile_asks_for_station_and_connector_then_records_the_answer(
    admin_client, make_station
):
    station = make_station("CP-ADM")
    p = profile()
    changelist = reverse("admin:stations_chargingprofile_changelist")

    page = admin_client.post(changelist, {"action": "apply_to_station", "_selected_action": [p.pk]})
    assert page.status_code == 200 and "connector_number" in page.content.decode()

    response = admin_client.post(
        changelist,
        {
            "action": "apply_to_station",
            "_selected_action": [p.pk],
            "apply": "1",
            "station": station.pk,
            "connector_number": 1,
        },
        follow=True,
    )

    assignment = ChargingProfileAssignment.objects.get()
    assert (assignment.station, assignment.connector_number, assignment.status) == (
        station,
        1,
        "NotDelivered",
    )
    assert shown(response) == [("error", "cap (#9) on CP-ADM#1: offline (station is offline)")]


def test_apply_refuses_a_station_maximum_on_a_connector(admin_client, make_station):
    station = make_station("CP-ADM")
    p = profile(purpose="ChargePointMaxProfile")

    response = admin_client.post(
        reverse("admin:stations_chargingprofile_changelist"),
        {
            "action": "apply_to_station",
            "_selected_action": [p.pk],
            "apply": "1",
            "station": station.pk,
            "connector_number": 1,
        },
        follow=True,
    )

    assert "is set on connector 0" in shown(response)[0][1]
    assert not station.commands.exists()


def test_installed_profile_cannot_be_deleted_until_cleared(admin_client, make_station):
    station = make_station("CP-ADM")
    p = profile()
    ChargingProfileAssignment.objects.create(
        profile=p, station=station, connector_number=0, status="Accepted", sent_at=timezone.now()
    )

    delete = reverse("admin:stations_chargingprofile_delete", args=[p.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    ChargingProfileAssignment.objects.update(status="Cleared")
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not ChargingProfile.objects.exists()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_clear_action_clears_where_applied_with_a_live_charger(
    admin_client, ocpp_server, booted_station
):
    station = booted_station("CP-ADM-LIVE")
    p = profile()
    ChargingProfileAssignment.objects.create(
        profile=p, station=station, connector_number=1, status="Accepted", sent_at=timezone.now()
    )
    with ThreadedCharger(ocpp_server.ws_url("CP-ADM-LIVE"), "CP-ADM-LIVE") as charger:
        response = admin_client.post(
            reverse("admin:stations_chargingprofile_changelist"),
            {"action": "clear_from_stations", "_selected_action": [p.pk]},
            follow=True,
        )
        state_response = None
        LocalListState.objects.create(station=station)
        state_response = admin_client.post(
            reverse("admin:stations_localliststate_changelist"),
            {"action": "send_full", "_selected_action": [station.pk]},
            follow=True,
        )

    assert shown(response) == [
        ("success", "Clear cap (#9) from CP-ADM-LIVE: charger answered {'status': 'Accepted'}")
    ]
    assert ChargingProfileAssignment.objects.get().status == "Cleared"
    assert [name for name, _ in charger.received] == ["ClearChargingProfile", "SendLocalList"]
    assert shown(state_response) == [
        (
            "success",
            "CP-ADM-LIVE: Full list v1, 0 entries — full "
            "update requested: charger answered "
            "{'status': 'Accepted'}",
        )
    ]
