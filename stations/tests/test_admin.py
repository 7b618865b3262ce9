"""The station admin: liveness and connector columns, onboarding through the service,
password handling (generated, rotated, never shown) and approval."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cockpit.station_admin import StationAdmin
from stations.credentials import check_password
from stations.services import station_create
from stations.station_models import Connector, Station
from stations.tests.factories import LocationFactory

pytestmark = pytest.mark.django_db

PASSWORD = "station-password-0001"
CHANGELIST = reverse("admin:stations_station_changelist")
ADD = reverse("admin:stations_station_add")
# the management form of the read-only command history inline, as the page renders it
NO_COMMANDS = {"commands-TOTAL_FORMS": "0", "commands-INITIAL_FORMS": "0"}


def make_station(
    identity: str, *, online: bool = False, statuses=("Available",), **fields
) -> Station:
    station = station_create(
        identity=identity, location_name="Depot", connectors=len(statuses), password=PASSWORD
    ).station
    now = timezone.now()
    liveness = {"connected": online, "last_seen_at": now if online else now - timedelta(days=1)}
    Station.objects.filter(pk=station.pk).update(**{**liveness, **fields})
    for number, status in enumerate(statuses, start=1):
        Connector.objects.filter(station=station, number=number).update(status=status)
    station.refresh_from_db()
    return station


def changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(CHANGELIST).status_code == 200
    return len(ctx.captured_queries)


def test_station_changelist_shows_liveness_and_connector_statuses(admin_client):
    # given
    make_station("ST-ON", online=True, statuses=("Available", "Charging"))
    make_station("ST-OFF", online=False, statuses=("Faulted",))

    # when
    html = admin_client.get(CHANGELIST).content.decode()

    # then
    assert "ONLINE" in html and "OFFLINE" in html
    assert "1: Available, 2: Charging" in html
    assert "1: Faulted" in html


def test_station_changelist_queries_do_not_grow_with_stations(admin_client):
    # given one station
    make_station("ST-0", online=True, statuses=("Available", "Charging"))
    one = changelist_queries(admin_client)

    # when ten
    for n in range(1, 10):
        make_station(f"ST-{n}", online=bool(n % 2), statuses=("Available", "Preparing"))
    ten = changelist_queries(admin_client)

    # then
    assert ten == one


def test_online_filter_uses_the_liveness_rule(admin_client):
    # given
    make_station("ST-ON", online=True)
    make_station("ST-STALE", online=False, connected=True)  # socket flag set, long silent
    make_station("ST-NEVER")
    Station.objects.filter(identity="ST-NEVER").update(last_seen_at=None)

    # when
    online = admin_client.get(CHANGELIST, {"online": "yes"}).context["cl"].result_list
    offline = admin_client.get(CHANGELIST, {"online": "no"}).context["cl"].result_list

    # then
    assert [s.identity for s in online] == ["ST-ON"]
    assert sorted(s.identity for s in offline) == ["ST-NEVER", "ST-STALE"]


def test_add_station_with_generated_password_shows_it_once(admin_client):
    # given
    location = LocationFactory(name="Osh Bazaar")

    # when
    response = admin_client.post(
        ADD,
        {
            "identity": "CP-NEW-1",
            "location": location.pk,
            "new_location": "",
            "connectors": "3",
            "password": "",
            "generate_password": "on",
            "security_profile": "1",
            "_save": "Save",
        },
        follow=True,
    )

    # then
    station = Station.objects.get(identity="CP-NEW-1")
    assert station.location == location
    assert list(station.connectors.values_list("number", flat=True)) == [1, 2, 3]
    shown = [str(m) for m in response.context["messages"] if "shown once" in str(m)]
    assert len(shown) == 1
    password = shown[0].rsplit(" ", 1)[1]
    assert check_password(password, station.password_hash)
    assert password in response.content.decode()
    assert password not in admin_client.get(CHANGELIST).content.decode()


def test_add_station_with_typed_password_creates_new_location(admin_client):
    # when
    admin_client.post(
        ADD,
        {
            "identity": "CP-NEW-2",
            "location": "",
            "new_location": "Karakol Depot",
            "connectors": "1",
            "password": PASSWORD,
            "security_profile": "1",
            "_save": "Save",
        },
    )

    # then
    station = Station.objects.get(identity="CP-NEW-2")
    assert station.location.name == "Karakol Depot"
    assert check_password(PASSWORD, station.password_hash)


@pytest.mark.parametrize(
    "fields, error_field",
    [
        ({"password": PASSWORD, "generate_password": "on"}, "password"),
        ({"password": ""}, "password"),
        ({"password": "short"}, "password"),
        ({"password": PASSWORD, "new_location": ""}, "new_location"),
        ({"password": PASSWORD, "identity": "bad id!"}, "identity"),
    ],
)
def test_add_station_refuses_incomplete_or_invalid_input(admin_client, fields, error_field):
    # when
    data = {
        "identity": "CP-BAD",
        "location": "",
        "new_location": "Depot",
        "connectors": "1",
        "security_profile": "1",
        "_save": "Save",
        **fields,
    }
    response = admin_client.post(ADD, data)

    # then
    assert response.status_code == 200
    assert error_field in response.context["adminform"].form.errors
    assert not Station.objects.filter(identity__in=["CP-BAD", "bad id!"]).exists()


def test_add_station_refuses_a_taken_identity(admin_client):
    make_station("CP-TAKEN")

    response = admin_client.post(
        ADD,
        {
            "identity": "CP-TAKEN",
            "new_location": "Depot",
            "connectors": "1",
            "generate_password": "on",
            "security_profile": "1",
            "_save": "Save",
        },
    )

    assert "identity" in response.context["adminform"].form.errors
    assert Station.objects.filter(identity="CP-TAKEN").count() == 1


def test_rotate_password_action_changes_the_hash_and_shows_each_password(admin_client):
    # given
    first, second = make_station("ST-A"), make_station("ST-B")

    # when
    response = admin_client.post(
        CHANGELIST,
        {"action": "rotate_password", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    # then
    shown = {str(m).split()[3]: str(m).rsplit(" ", 1)[1] for m in response.context["messages"]}
    for station in (first, second):
        old_hash = station.password_hash
        station.refresh_from_db()
        assert station.password_hash != old_hash
        assert not check_password(PASSWORD, station.password_hash)
        assert check_password(shown[station.identity], station.password_hash)


def test_change_page_never_shows_or_accepts_the_password_hash(admin_client):
    # given
    station = make_station("ST-SECRET")
    url = reverse("admin:stations_station_change", args=[station.pk])

    # when
    html = admin_client.get(url).content.decode()
    admin_client.post(
        url,
        {
            "location": station.location_id,
            "admin_status": "maintenance",
            "registration_status": "Accepted",
            "max_power_kw": "",
            "security_profile": "1",
            "password_hash": "pbkdf2_sha256$1$x$y",
            "connectors-TOTAL_FORMS": "0",
            "connectors-INITIAL_FORMS": "0",
            **NO_COMMANDS,
            "_save": "Save",
        },
    )

    # then
    assert station.password_hash not in html
    assert station.password_hash.split("$")[2] not in html  # not even the salt
    assert 'name="password_hash"' not in html
    assert "Password set" in html
    old_hash = station.password_hash
    station.refresh_from_db()
    assert station.admin_status == "maintenance"  # the edit went through...
    assert station.password_hash == old_hash  # ...the smuggled hash did not


def test_saving_the_change_form_keeps_what_the_charger_wrote_meanwhile(admin_client, monkeypatch):
    # given the charger disconnects and reports a fault while the admin saves an edit
    station = make_station("ST-LIVE", online=True)
    url = reverse("admin:stations_station_change", args=[station.pk])
    read_station = StationAdmin.get_object

    def read_then_charger_writes(self, request, object_id, from_field=None):
        obj = read_station(self, request, object_id, from_field)
        Station.objects.filter(pk=obj.pk).update(connected=False, status="Faulted")
        return obj

    monkeypatch.setattr(StationAdmin, "get_object", read_then_charger_writes)
    connector = station.connectors.get()

    # when
    response = admin_client.post(
        url,
        {
            "location": station.location_id,
            "admin_status": "maintenance",
            "registration_status": "Accepted",
            "max_power_kw": "",
            "security_profile": "1",
            "connectors-TOTAL_FORMS": "1",
            "connectors-INITIAL_FORMS": "1",
            "connectors-0-id": connector.pk,
            "connectors-0-station": station.pk,
            "connectors-0-number": "1",
            "connectors-0-connector_type": "CCS2",
            "connectors-0-max_power_kw": "60",
            **NO_COMMANDS,
            "_save": "Save",
        },
    )

    # then the edits are saved and the charger's writes survive
    assert response.status_code == 302
    station.refresh_from_db()
    connector.refresh_from_db()
    assert station.admin_status == "maintenance"
    assert (station.connected, station.status) == (False, "Faulted")
    assert (connector.connector_type, connector.status) == ("CCS2", "Available")


def test_approve_action_accepts_pending_stations_only(admin_client):
    # given
    pending = make_station("ST-PENDING", registration_status=Station.Registration.PENDING)
    rejected = make_station("ST-REJECTED", registration_status=Station.Registration.REJECTED)

    # when
    response = admin_client.post(
        CHANGELIST,
        {"action": "approve_registration", "_selected_action": [pending.pk, rejected.pk]},
        follow=True,
    )

    # then
    pending.refresh_from_db()
    rejected.refresh_from_db()
    assert pending.registration_status == Station.Registration.ACCEPTED
    assert rejected.registration_status == Station.Registration.REJECTED
    assert "Approved 1 station(s)" in response.content.decode()


def test_location_and_id_tag_changelists_render(admin_client):
    make_station("ST-1")
    make_station("ST-2")

    locations = admin_client.get(reverse("admin:stations_location_changelist"))
    tags = admin_client.get(reverse("admin:stations_idtag_changelist"))

    assert locations.context["cl"].result_list[0].station_count == 2
    assert tags.status_code == 200
