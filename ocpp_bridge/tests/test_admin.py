"""The charger side's admin (message log, security events, parked messages) and the
message log purge command."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from charging.parked import park_message, parked_message_resolve
from charging.parked_models import ParkedMessage
from evpower.models import SecurityEvent
from ocpp_bridge.models import OcppMessage
from stations.services import station_create

pytestmark = pytest.mark.django_db


def make_parked(station=None, **fields) -> ParkedMessage:
    return park_message(
        station_id=station.pk if station else None,
        action="StopTransaction",
        reason=ParkedMessage.Reason.UNKNOWN_TRANSACTION,
        payload={"transactionId": 7},
        transaction_id=7,
        **fields,
    )


def make_log_row(age: timedelta, identity: str = "CP-1") -> OcppMessage:
    return OcppMessage.objects.create(
        identity=identity,
        direction=OcppMessage.Direction.IN,
        message_type=2,
        message_id="m-1",
        action="Heartbeat",
        raw='[2,"m-1","Heartbeat",{}]',
        created_at=timezone.now() - age,
    )


def run_purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_ocpp_log", *args, stdout=out)
    return out.getvalue()


def test_resolve_action_resolves_unresolved_and_leaves_resolved_ones(
    admin_client, django_user_model
):
    # given
    station = station_create(identity="CP-1", location_name="Depot", generate_password=True).station
    open_one = make_parked(station)
    earlier = make_parked(station)
    colleague = django_user_model.objects.create_user("colleague")
    parked_message_resolve(message=earlier, user=colleague, note="refunded by hand")
    first_resolution = ParkedMessage.objects.get(pk=earlier.pk).resolved_at

    # when
    response = admin_client.post(
        reverse("admin:charging_parkedmessage_changelist"),
        {"action": "mark_resolved", "_selected_action": [open_one.pk, earlier.pk]},
        follow=True,
    )

    # then
    open_one.refresh_from_db()
    earlier.refresh_from_db()
    assert open_one.resolved_at is not None and open_one.resolved_by.username == "admin"
    assert (earlier.resolved_at, earlier.resolved_by, earlier.resolution_note) == (
        first_resolution,
        colleague,
        "refunded by hand",
    )
    assert "Marked 1 parked message(s) resolved. 1 already were" in response.content.decode()


def test_resolving_twice_keeps_the_first_resolution(admin_user, django_user_model):
    # given
    message = make_parked()
    other = django_user_model.objects.create_user("other")

    # when
    first = parked_message_resolve(message=message, user=admin_user, note="checked")
    second = parked_message_resolve(
        message=ParkedMessage.objects.get(pk=message.pk), user=other, note="again"
    )

    # then
    message.refresh_from_db()
    assert (first, second) == (True, False)
    assert (message.resolved_by, message.resolution_note) == (admin_user, "checked")


def test_resolved_filter_splits_parked_messages(admin_client, admin_user):
    # given
    done, waiting = make_parked(), make_parked()
    parked_message_resolve(message=done, user=admin_user)
    url = reverse("admin:charging_parkedmessage_changelist")

    # when
    unresolved = admin_client.get(url, {"resolved": "no"}).context["cl"].result_list
    resolved = admin_client.get(url, {"resolved": "yes"}).context["cl"].result_list

    # then
    assert [m.pk for m in unresolved] == [waiting.pk]
    assert [m.pk for m in resolved] == [done.pk]


def test_parked_message_is_evidence_and_cannot_be_edited(admin_client):
    message = make_parked()
    url = reverse("admin:charging_parkedmessage_change", args=[message.pk])

    response = admin_client.post(url, {"detail": "rewritten", "reason": "meter_backwards"})

    assert response.status_code == 403
    message.refresh_from_db()
    assert message.reason == ParkedMessage.Reason.UNKNOWN_TRANSACTION


def test_message_log_admin_lists_filters_and_is_read_only(admin_client):
    # given
    row = make_log_row(timedelta(minutes=1))
    make_log_row(timedelta(minutes=2), identity="CP-2")
    changelist = reverse("admin:ocpp_bridge_ocppmessage_changelist")

    # when
    listed = admin_client.get(changelist, {"action": "Heartbeat", "q": "CP-1"})
    detail = admin_client.get(reverse("admin:ocpp_bridge_ocppmessage_change", args=[row.pk]))

    # then
    assert [m.pk for m in listed.context["cl"].result_list] == [row.pk]
    assert detail.status_code == 200 and "Heartbeat" in detail.content.decode()
    assert admin_client.get(reverse("admin:ocpp_bridge_ocppmessage_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:ocpp_bridge_ocppmessage_delete", args=[row.pk])
        ).status_code
        == 403
    )


def test_security_event_admin_lists_events(admin_client):
    SecurityEvent.objects.create(
        identity="CP-1",
        source=SecurityEvent.Source.PLATFORM,
        kind="ConnectionRefused",
        occurred_at=timezone.now(),
    )

    response = admin_client.get(
        reverse("admin:evpower_securityevent_changelist"), {"source": "platform"}
    )

    assert len(response.context["cl"].result_list) == 1


def test_purge_deletes_only_rows_past_retention(settings):
    # given
    settings.OCPP_MESSAGE_LOG_RETENTION_DAYS = 30
    old = [make_log_row(timedelta(days=31)), make_log_row(timedelta(days=90))]
    recent = make_log_row(timedelta(days=29))

    # when
    out = run_purge()

    # then
    assert "Deleted 2" in out
    assert list(OcppMessage.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not OcppMessage.objects.filter(pk__in=[o.pk for o in old]).exists()


def test_purge_days_option_overrides_the_setting():
    make_log_row(timedelta(days=8))
    make_log_row(timedelta(days=6))

    out = run_purge("--days", "7")

    assert "Deleted 1" in out
    assert OcppMessage.objects.count() == 1


def test_purge_dry_run_counts_and_deletes_nothing():
    make_log_row(timedelta(days=8))
    make_log_row(timedelta(days=6))

    out = run_purge("--days", "7", "--dry-run")

    assert "1 OCPP log row(s)" in out and "would be deleted" in out
    assert OcppMessage.objects.count() == 2
