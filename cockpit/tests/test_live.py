"""The cockpit's live station view, its command endpoint and the map of locations
(cockpit/live.py, live_map.py, selectors.py, commands.py): what
each role sees, owner scoping, fixed query counts, and the charger's answer to a button
(end to end, with a simulated charger answering)."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import FINANCE, OPERATOR, OWNER, SUPPORT, roles_sync
from charging.models import OcppTransaction
from charging.session.models import ChargingSession
from cockpit.selectors import (
    AVAILABLE,
    CHARGING,
    FAULTED,
    OFFLINE,
    PARTIAL,
    location_state,
    station_state,
)
from ocpp_bridge.models import CommandRecord, OcppMessage
from ocpp_bridge.tests.command_charger import ThreadedCharger
from payments.tests.support import new_client
from stations.models import Connector, Location, Station
from stations.services import station_create

pytestmark = pytest.mark.django_db
_names = itertools.count()
MAP = "/admin/cockpit/map/"


@pytest.fixture(autouse=True)
def roles():
    roles_sync()


def site(
    identity: str,
    *,
    owner=None,
    connectors: int = 2,
    online: bool = False,
    statuses: tuple[str, ...] = (),
    lat: str | None = None,
    lon: str | None = None,
    location: str | None = None,
) -> Station:
    station = station_create(
        identity=identity, location_name=location or f"site {identity}", connectors=connectors
    ).station
    if owner or lat:  # a second station at a location leaves the location as it is
        Location.objects.filter(pk=station.location_id).update(
            owner=owner,
            latitude=Decimal(lat) if lat else None,
            longitude=Decimal(lon) if lon else None,
        )
    Station.objects.filter(pk=station.pk).update(
        connected=online, last_seen_at=timezone.now() if online else None
    )
    for number, status in enumerate(statuses, start=1):
        Connector.objects.filter(station=station, number=number).update(status=status)
    station.refresh_from_db()
    return station


def session_on(
    station: Station,
    number: int = 1,
    *,
    status: str = "charging",
    energy_wh: int = 0,
    with_transaction: bool = True,
) -> ChargingSession:
    tx = (
        OcppTransaction.objects.create(
            station=station,
            connector_number=number,
            id_tag=f"T{next(_names)}",
            id_tag_status="Accepted",
            meter_start=0,
            started_at=timezone.now(),
        )
        if with_transaction
        else None
    )
    return ChargingSession.objects.create(
        client=new_client(name="Aida"),
        station=station,
        connector=station.connectors.get(number=number),
        connector_number=number,
        id_tag="LIVE",
        status=status,
        limit_type=ChargingSession.LimitType.NONE,
        tariff={},
        energy_wh=energy_wh,
        transaction=tx,
        charging_started_at=timezone.now(),
    )


def live(station: Station) -> str:
    return reverse("admin:cockpit_station_live", args=[station.pk])


def feed(station: Station) -> str:
    return reverse("admin:cockpit_station_feed", args=[station.pk])


def command_url(station: Station) -> str:
    return reverse("admin:cockpit_station_command", args=[station.pk])


def connector_status(html: str, number: int) -> str:
    """The DOM contract: [data-connector=n] ... [data-role=status] holds the OCPP status."""
    match = re.search(rf'data-connector="{number}".*?data-role="status"[^>]*>([^<]*)<', html, re.S)
    assert match, f"connector {number} not on the page"
    return match.group(1)


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


# --- the live station view ---------------------------------------------------------------


def test_operator_sees_connectors_charges_messages_and_commands(client, staff_in):
    # given a station charging on connector 1, with a frame in its log
    staff_in(OPERATOR)
    station = site("CP-LIVE-OP", online=True, statuses=("Charging", "Available"))
    charge = session_on(station, 1, energy_wh=5250)
    OcppMessage.objects.create(
        station=station,
        identity=station.identity,
        direction="in",
        message_type=2,
        action="StatusNotification",
        raw='[2,"m1","StatusNotification",{}]',
        created_at=timezone.now(),
    )

    # when
    html = client.get(live(station)).content.decode()

    # then
    assert connector_status(html, 1) == "Charging"
    assert connector_status(html, 2) == "Available"
    assert 'data-role="online"' in html and ">online<" in html
    assert reverse("admin:charging_chargingsession_change", args=[charge.pk]) in html
    assert "5.250 kWh" in html
    assert "Aida" not in html  # clients are for those who may view clients
    assert "StatusNotification" in html and 'data-role="messages"' in html
    assert 'data-command="soft_reset"' in html and 'data-command="stop"' in html
    assert 'data-command="unlock" data-command-connector="2"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "/static/evpower/admin/live.js" in html and "<script>" not in html


def test_owner_sees_their_own_station_without_commands_and_not_anothers(client, staff_in):
    owner = staff_in(OWNER)
    mine = site("CP-LIVE-MINE", owner=owner)
    theirs = site("CP-LIVE-THEIRS", owner=get_user_model().objects.create_user("other-owner"))
    session_on(mine, 1)

    page = client.get(live(mine))
    assert page.status_code == 200
    html = page.content.decode()
    assert connector_status(html, 1) == "Unknown"
    assert "data-command=" not in html  # owners send no commands
    assert 'data-role="messages"' not in html  # nor read the raw message log
    assert "Aida" not in html  # nor see clients
    assert client.get(live(theirs)).status_code == 404
    assert client.get(feed(theirs)).status_code == 404


@pytest.mark.parametrize("role", [FINANCE, SUPPORT])
def test_finance_and_support_watch_and_see_the_client_but_get_no_buttons(client, staff_in, role):
    staff_in(role)
    station = site(f"CP-LIVE-{role}")
    session_on(station, 2)
    html = client.get(live(station)).content.decode()
    assert connector_status(html, 1) == "Unknown" and "data-command=" not in html
    assert "Aida" in html


def test_staff_who_may_not_view_stations_is_refused(client, staff_in):
    user = staff_in(OWNER)
    user.groups.clear()
    station = site("CP-LIVE-NOPE")
    assert client.get(live(station)).status_code == 403
    assert client.get(MAP).status_code == 403


def test_feed_renders_the_charges_and_messages_again(client, staff_in):
    staff_in(OPERATOR)
    station = site("CP-LIVE-FEED")
    charge = session_on(station, 2, energy_wh=1200)
    OcppMessage.objects.create(
        station=station,
        identity=station.identity,
        direction="out",
        message_type=2,
        action="Reset",
        raw='[2,"x","Reset",{}]',
        created_at=timezone.now(),
    )

    data = client.get(feed(station)).json()

    assert set(data["charges"]) == {"1", "2"}
    assert "No charge in progress" in data["charges"]["1"]
    assert f"#{charge.pk}" in data["charges"]["2"] and "1.200 kWh" in data["charges"]["2"]
    assert "Reset" in data["messages"]


def test_feed_for_an_owner_has_no_messages(client, staff_in):
    owner = staff_in(OWNER)
    station = site("CP-LIVE-OWNFEED", owner=owner)
    data = client.get(feed(station)).json()
    assert data["messages"] is None and set(data["charges"]) == {"1", "2"}


def test_live_view_costs_the_same_queries_for_one_connector_or_many(client, staff_in):
    staff_in(OPERATOR)
    small = site("CP-Q-1", connectors=1)
    session_on(small, 1)
    big = site("CP-Q-4", connectors=4)
    for number in range(1, 5):
        session_on(big, number)
    queries(client, live(small))  # warm: the session, the user's permissions

    assert queries(client, live(small)) == queries(client, live(big))
    assert queries(client, feed(small)) == queries(client, feed(big))


def test_station_change_page_links_to_the_live_view(client, staff_in):
    staff_in(OPERATOR)
    station = site("CP-LIVE-LINK")
    html = client.get(reverse("admin:stations_station_change", args=[station.pk])).content
    assert live(station).encode() in html


def test_the_pages_scripts_are_served_from_our_static_files():
    for name in (
        "evpower/admin/live.js",
        "evpower/admin/map.js",
        "vendor/leaflet/leaflet.js",
        "vendor/leaflet/leaflet.css",
        "vendor/leaflet/LICENSE",
    ):
        assert finders.find(name), name


# --- the command endpoint ------------------------------------------------------------------


@pytest.mark.parametrize("role", [FINANCE, SUPPORT, OWNER])
def test_roles_without_the_command_permission_get_403(client, staff_in, role):
    user = staff_in(role)
    station = site(f"CP-CMD-{role}", owner=user if role == OWNER else None)
    answer = client.post(command_url(station), {"command": "soft_reset"})
    assert answer.status_code == 403 and answer.json()["ok"] is False
    assert not CommandRecord.objects.exists()


def test_a_scoped_user_with_the_command_permission_cannot_reach_another_owners_station(
    client, staff_in
):
    staff_in(OWNER, "ocpp_bridge.add_commandrecord")
    theirs = site("CP-CMD-THEIRS", owner=get_user_model().objects.create_user("owner-b"))
    assert client.post(command_url(theirs), {"command": "soft_reset"}).status_code == 404
    assert not CommandRecord.objects.exists()


def test_bad_requests_are_refused_before_anything_is_sent(client, staff_in):
    staff_in(OPERATOR)
    station = site("CP-CMD-BAD")
    assert client.post(command_url(station), {"command": "explode"}).status_code == 400
    assert (
        client.post(command_url(station), {"command": "unlock", "connector": "9"}).status_code
        == 400
    )
    assert (
        client.post(command_url(station), {"command": "unlock", "connector": "x"}).status_code
        == 400
    )
    assert client.get(command_url(station)).status_code == 405
    assert not CommandRecord.objects.exists()


def test_an_offline_station_answers_offline_at_once(client, staff_in):
    user = staff_in(OPERATOR)
    station = site("CP-CMD-OFF")
    answer = client.post(command_url(station), {"command": "unlock", "connector": "1"}).json()
    assert (answer["ok"], answer["status"], answer["text"]) == (
        False,
        "offline",
        "Offline: not sent",
    )
    record = CommandRecord.objects.get(pk=answer["command_id"])
    assert (record.action, record.payload, record.requested_by) == (
        "UnlockConnector",
        {"connectorId": 1},
        f"admin:{user.username}",
    )


def test_stop_with_nothing_charging_sends_nothing(client, staff_in):
    staff_in(OPERATOR)
    station = site("CP-CMD-IDLE", online=True)
    answer = client.post(command_url(station), {"command": "stop", "connector": "1"}).json()
    assert answer["status"] == "nothing" and not CommandRecord.objects.exists()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_operator_gets_the_chargers_answer(client, staff_in, ocpp_server, booted_station):
    # given an operator and a connected charger that refuses to change availability
    staff_in(OPERATOR)
    station = booted_station("CP-CMD-LIVE")
    with ThreadedCharger(
        ocpp_server.ws_url("CP-CMD-LIVE"), "CP-CMD-LIVE", availability="Rejected"
    ) as charger:
        # when the buttons are pressed
        reset = client.post(command_url(station), {"command": "soft_reset"}).json()
        unlock = client.post(command_url(station), {"command": "unlock", "connector": "2"}).json()
        refused = client.post(
            command_url(station), {"command": "inoperative", "connector": "1"}
        ).json()
    # then each answer is the charger's
    assert (reset["ok"], reset["status"], reset["answer"]) == (True, "accepted", "Accepted")
    assert (unlock["answer"], unlock["text"]) == ("Unlocked", "Unlocked")
    assert (refused["ok"], refused["status"], refused["answer"]) == (False, "rejected", "Rejected")
    assert refused["text"] == "Refused by the charger: Rejected"
    assert ("Reset", {"type": "Soft"}) in charger.received
    assert ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) in charger.received


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_stop_goes_through_the_session_and_the_charger_accepts(
    client, staff_in, ocpp_server, booted_station
):
    staff_in(OPERATOR)
    station = booted_station("CP-CMD-STOP")
    charge = session_on(station, 1)
    with ThreadedCharger(ocpp_server.ws_url("CP-CMD-STOP"), "CP-CMD-STOP") as charger:
        answer = client.post(command_url(station), {"command": "stop", "connector": "1"}).json()
    assert (answer["ok"], answer["status"], answer["answer"]) == (True, "accepted", "Accepted")
    assert charger.received == [("RemoteStopTransaction", {"transactionId": charge.transaction_id})]
    charge.refresh_from_db()
    assert charge.status == ChargingSession.Status.FINISHING
    assert charge.stop_reason == ChargingSession.StopReason.OPERATOR


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_stop_pressed_twice_sends_one_remote_stop(client, staff_in, ocpp_server, booted_station):
    # given a charge on a connected charger
    staff_in(OPERATOR)
    station = booted_station("CP-CMD-STOP2")
    charge = session_on(station, 1)
    with ThreadedCharger(ocpp_server.ws_url("CP-CMD-STOP2"), "CP-CMD-STOP2") as charger:
        # when the operator presses Stop, then presses it again
        first = client.post(command_url(station), {"command": "stop", "connector": "1"}).json()
        second = client.post(command_url(station), {"command": "stop", "connector": "1"}).json()
    # then the charger is asked once; the second press finds the charge already stopping
    assert first["status"] == second["status"] == "accepted"
    assert "stopping" in second["text"]
    assert charger.received == [("RemoteStopTransaction", {"transactionId": charge.transaction_id})]
    assert CommandRecord.objects.filter(action="RemoteStopTransaction").count() == 1


# --- the map ---------------------------------------------------------------------------------


def test_map_lists_every_visible_location_and_marks_those_with_coordinates(client, staff_in):
    staff_in(OPERATOR)
    located = site(
        "CP-MAP-A",
        online=True,
        statuses=("Charging", "Available"),
        lat="42.874600",
        lon="74.569800",
    )
    unlocated = site("CP-MAP-B")

    html = client.get(MAP).content.decode()

    assert f'data-location="{located.location_id}"' in html
    assert 'data-lat="42.874600" data-lng="74.569800"' in html
    assert f'data-location="{unlocated.location_id}" data-name="site CP-MAP-B">' in html
    assert 'data-state="charging"' in html and 'data-state="offline"' in html
    assert live(located) in html and 'id="cockpit-map"' in html
    assert "tile.openstreetmap.org" in html and "OpenStreetMap" in html
    assert "/static/vendor/leaflet/leaflet.js" in html and "<script>" not in html


def test_map_of_an_owner_shows_only_their_locations(client, staff_in):
    owner = staff_in(OWNER)
    mine = site("CP-MAP-MINE", owner=owner, lat="42.8", lon="74.6")
    theirs = site(
        "CP-MAP-THEIRS",
        owner=get_user_model().objects.create_user("owner-c"),
        lat="40.5",
        lon="72.8",
    )
    html = client.get(MAP).content.decode()
    assert f'data-location="{mine.location_id}"' in html
    assert f'data-location="{theirs.location_id}"' not in html and "CP-MAP-THEIRS" not in html


def test_map_costs_the_same_queries_for_one_location_or_many(client, staff_in):
    staff_in(OPERATOR)
    site("CP-MQ-1", lat="42.1", lon="74.1")
    queries(client, MAP)
    one = queries(client, MAP)
    for n in range(2, 5):
        site(f"CP-MQ-{n}", lat=f"42.{n}", lon=f"74.{n}", connectors=3)
        site(f"CP-MQ-{n}b", location=f"site CP-MQ-{n}")  # a second station at the location
    assert queries(client, MAP) == one


# --- the location's live state ----------------------------------------------------------------


def state_of(*stations: Station) -> str:
    for s in stations:
        s.refresh_from_db()
    return location_state([station_state(s) for s in stations])


@pytest.mark.parametrize(
    ("online", "statuses", "expected"),
    [
        ((True,), (("Available", "Available"),), AVAILABLE),
        ((True,), (("Available", "Charging"),), CHARGING),
        ((True,), (("Available", "Faulted"),), FAULTED),
        ((True, False), (("Available",), ("Available",)), PARTIAL),
        ((True, False), (("Charging",), ("Available",)), PARTIAL),
        ((False, False), (("Available",), ("Faulted",)), OFFLINE),  # an offline fault is old news
        ((True, False), (("Faulted",), ("Available",)), FAULTED),
    ],
)
def test_location_state_is_the_worst_of_its_stations(online, statuses, expected):
    stations = [
        site(f"CP-ST-{next(_names)}", online=on, connectors=len(st), statuses=st)
        for on, st in zip(online, statuses, strict=True)
    ]
    assert state_of(*stations) == expected


def test_a_station_in_maintenance_or_faulted_as_a_whole_makes_its_location_faulted():
    maintained = site("CP-ST-MAINT", online=True, statuses=("Available",))
    Station.objects.filter(pk=maintained.pk).update(admin_status=Station.AdminStatus.MAINTENANCE)
    whole = site("CP-ST-WHOLE", online=True, statuses=("Available",))
    Station.objects.filter(pk=whole.pk).update(status="Faulted")
    assert state_of(maintained) == FAULTED and state_of(whole) == FAULTED


def test_a_station_silent_too_long_counts_as_offline():
    station = site("CP-ST-SILENT", online=True, statuses=("Available",))
    Station.objects.filter(pk=station.pk).update(last_seen_at=timezone.now() - timedelta(days=1))
    assert state_of(station) == OFFLINE
