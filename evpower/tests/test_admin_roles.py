"""Staff roles (accounts/roles.py), owner scoping (accounts/admin_scoping.py) and the audit
log of staff changes (cockpit/audit.py), through the real admin pages."""

from __future__ import annotations

import io

import pytest
from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse

from accounts.roles import FINANCE, OPERATOR, OWNER, ROLE_PERMISSIONS, SUPPORT, roles_sync
from accounts.tests.factories import ClientFactory
from ocpp_bridge.models import CommandRecord
from stations.models import Location, Station
from stations.services import station_create
from stations.tests.factories import LocationFactory, TariffPlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def roles():
    roles_sync()  # the migration made them; a flushed test database may not have them


def owned_station(identity: str, owner) -> Station:
    station = station_create(
        identity=identity,
        location_name=f"site of {identity}",
        connectors=1,
        password="station-password-0001",
    ).station
    Location.objects.filter(pk=station.location_id).update(owner=owner)
    return station


def changelist(model: str) -> str:
    return reverse(f"admin:{model.replace('.', '_')}_changelist")


# --- the roles' permissions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "needs", "must_not"),
    [
        (
            OWNER,
            {
                "stations.change_station",
                "charging.view_chargingsession",
                "stations.change_location",
            },
            {
                "accounts.view_client",
                "payments.view_wallet",
                "payments.view_ledgertransaction",
                "ocpp_bridge.add_commandrecord",
                "stations.manage_station_security",
            },
        ),
        (
            OPERATOR,
            {
                "ocpp_bridge.add_commandrecord",
                "stations.manage_station_security",
                "stations.change_tariffplan",
                "stations.change_idtag",
                "charging.change_parkedmessage",
                "charging.stop_chargingsession",
            },
            {"payments.adjust_wallet", "payments.refund_payment", "accounts.change_client"},
        ),
        (
            SUPPORT,
            {
                "accounts.change_client",
                "charging.stop_chargingsession",
                "charging.refund_chargingsession",
                "stations.change_idtag",
            },
            {
                "stations.change_tariffplan",
                "stations.change_tariffrule",
                "ocpp_bridge.add_commandrecord",
                "payments.adjust_wallet",
                "payments.refund_payment",
            },
        ),
        (
            FINANCE,
            {
                "payments.adjust_wallet",
                "payments.refund_payment",
                "payments.resolve_reconciliationissue",
                "payments.view_ledgertransaction",
                "charging.refund_chargingsession",
            },
            {
                "ocpp_bridge.add_commandrecord",
                "stations.change_station",
                "stations.manage_station_security",
            },
        ),
    ],
)
def test_each_role_can_do_its_job_and_not_more(staff_in, role, needs, must_not):
    # given
    user = staff_in(role)

    # then
    assert {p for p in needs if not user.has_perm(p)} == set()
    assert {p for p in must_not if user.has_perm(p)} == set()


def test_roles_sync_restores_a_group_changed_by_hand():
    # given
    support = Group.objects.get(name=SUPPORT)
    support.permissions.add(Permission.objects.get(codename="change_tariffplan"))
    support.permissions.remove(Permission.objects.get(codename="change_client"))

    # when
    call_command("roles_sync", stdout=io.StringIO())

    # then
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in support.permissions.all()}
    assert granted == ROLE_PERMISSIONS[SUPPORT]


def test_support_cannot_change_a_tariff_in_the_admin(client, staff_in):
    # given
    plan = TariffPlanFactory(name="Standard")
    staff_in(SUPPORT)
    url = reverse("admin:stations_tariffplan_change", args=[plan.pk])

    # when
    page = client.get(url)
    post = client.post(url, {"name": "Cheap"})

    # then: readable, not changeable
    assert page.status_code == 200
    assert post.status_code == 403
    plan.refresh_from_db()
    assert plan.name == "Standard"


def test_finance_cannot_send_commands_to_chargers(client, staff_in):
    # given
    station = owned_station("CP-FIN", owner=None)
    staff_in(FINANCE)

    # when
    page = client.get(changelist("stations.station")).content.decode()
    action = client.post(
        changelist("stations.station"), {"action": "soft_reset", "_selected_action": [station.pk]}
    )
    command_page = client.get(reverse("admin:stations_station_send_command", args=[station.pk]))

    # then
    assert 'value="soft_reset"' not in page
    assert action.status_code in (200, 302)
    assert command_page.status_code == 403
    assert not CommandRecord.objects.exists()


def test_an_owner_cannot_rotate_a_station_password(client, staff_in):
    # given
    owner = staff_in(OWNER)
    station = owned_station("CP-OWN", owner=owner)
    password_hash = station.password_hash

    # when
    page = client.get(changelist("stations.station")).content.decode()
    client.post(
        changelist("stations.station"),
        {"action": "rotate_password", "_selected_action": [station.pk]},
    )

    # then
    assert 'value="rotate_password"' not in page
    station.refresh_from_db()
    assert station.password_hash == password_hash


# --- owner scoping ----------------------------------------------------------------------


def test_an_owner_sees_only_their_own_stations(client, staff_in):
    # given
    owner = staff_in(OWNER)
    owned_station("CP-MINE", owner=owner)
    owned_station("CP-THEIRS", owner=get_user_model().objects.create_user("other-owner"))

    # when
    page = client.get(changelist("stations.station")).content.decode()

    # then: the rows, and the location filter, are theirs only
    assert "CP-MINE" in page
    assert "CP-THEIRS" not in page and "site of CP-THEIRS" not in page


def test_an_owner_gets_404_on_another_owners_station(client, staff_in):
    # given
    owner = staff_in(OWNER)
    mine = owned_station("CP-MINE", owner=owner)
    theirs = owned_station("CP-THEIRS", owner=get_user_model().objects.create_user("other"))

    # when
    own_page = client.get(reverse("admin:stations_station_change", args=[mine.pk]))
    other_page = client.get(reverse("admin:stations_station_change", args=[theirs.pk]))

    # then
    assert own_page.status_code == 200
    assert other_page.status_code == 404


def test_an_owner_picks_only_their_own_locations(client, staff_in):
    # given
    owner = staff_in(OWNER)
    mine = owned_station("CP-MINE", owner=owner)
    owned_station("CP-THEIRS", owner=get_user_model().objects.create_user("other"))

    # when
    page = client.get(reverse("admin:stations_station_change", args=[mine.pk]))

    # then
    choices = [
        str(choice[1]) for choice in page.context["adminform"].form.fields["location"].choices
    ]
    assert "site of CP-MINE" in choices and "site of CP-THEIRS" not in choices


def test_an_operator_sees_every_station(client, staff_in):
    # given
    owned_station("CP-A", owner=get_user_model().objects.create_user("owner-a"))
    owned_station("CP-B", owner=None)
    staff_in(OPERATOR)

    # when
    page = client.get(changelist("stations.station")).content.decode()

    # then
    assert "CP-A" in page and "CP-B" in page


# --- audit log --------------------------------------------------------------------------


def test_a_change_in_the_admin_records_who_and_before_and_after(client, staff_in):
    # given
    location = LocationFactory(name="Depot", city="Bishkek")
    operator = staff_in(OPERATOR)

    # when
    response = client.post(
        reverse("admin:stations_location_change", args=[location.pk]),
        {
            "name": "Depot",
            "city": "Osh",
            "address": "",
            "time_zone": "Asia/Bishkek",
            "status": "active",
            "opening_hours": "24/7",
            "owner": "",
        },
    )

    # then
    assert response.status_code == 302
    entry = LogEntry.objects.get_for_object(location).get(action=LogEntry.Action.UPDATE)
    assert entry.actor == operator
    assert entry.changes_dict["city"] == ["Bishkek", "Osh"]


def test_a_clients_personal_data_stays_out_of_the_audit_log(client, staff_in):
    # given
    driver = ClientFactory(phone="+996700111222", name="Aida")
    staff_in(SUPPORT)

    # when
    response = client.post(
        reverse("admin:accounts_client_change", args=[driver.pk]),
        {
            "name": "Aida K.",
            "email": "",
            "language": "ru",
            "login_sessions-TOTAL_FORMS": "0",
            "login_sessions-INITIAL_FORMS": "0",
            "devices-TOTAL_FORMS": "0",
            "devices-INITIAL_FORMS": "0",
        },
    )

    # then
    assert response.status_code == 302
    driver.refresh_from_db()
    assert driver.name == "Aida K."
    entry = LogEntry.objects.get_for_object(driver).get(action=LogEntry.Action.UPDATE)
    assert entry.changes_dict["name"] == ["[masked]", "[masked]"]
    stored = f"{entry.object_repr} {entry.changes}"
    assert "Aida" not in stored and "111222" not in stored


def test_charger_driven_station_fields_are_not_audited():
    # given
    station = owned_station("CP-LIVE", owner=None)
    before = LogEntry.objects.get_for_object(station).count()

    # when: what a charger's messages change
    station.firmware_version = "2.0"
    station.last_heartbeat_at = station.created_at
    station.save(update_fields=["firmware_version", "last_heartbeat_at"])

    # then
    assert LogEntry.objects.get_for_object(station).count() == before
