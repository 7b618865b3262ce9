"""Charging profiles on chargers (OCPP 1.6 SetChargingProfile / ClearChargingProfile /
GetCompositeSchedule).

Every SetChargingProfile answer is recorded as the profile's assignment to that station
and connector, so operators see where a profile is installed. A 1.6 charger replaces a
profile it holds with the same chargingProfileId, or with the same stackLevel and
purpose on that connector (§3.13.2): an accepted profile marks those assignments
Replaced. The charger is never called inside a database transaction.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from stations.station_models import ChargingProfile, ChargingProfileAssignment, Station

from .charger_port import CommandResult, send_command

Assignment = ChargingProfileAssignment
ANSWERS = {
    "Accepted": Assignment.Status.ACCEPTED,
    "Rejected": Assignment.Status.REJECTED,
    "NotSupported": Assignment.Status.NOT_SUPPORTED,
}


def _check_connector(station: Station, connector_number: int) -> None:
    if connector_number != 0 and not station.connectors.filter(number=connector_number).exists():
        raise ValidationError(
            {"connector_number": f"{station.identity} has no connector {connector_number}."}
        )


def _check_target(profile: ChargingProfile, station: Station, connector_number: int) -> None:
    profile.clean()  # a profile edited in the database directly is still checked
    # 1.6 §5.16: the station-wide maximum lives on connector 0; a TxProfile on a connector
    if profile.purpose == ChargingProfile.Purpose.CHARGE_POINT_MAX and connector_number != 0:
        raise ValidationError(
            {
                "connector_number": "A ChargePointMaxProfile is set on "
                "connector 0 (the whole station)."
            }
        )
    if profile.purpose == ChargingProfile.Purpose.TX and connector_number == 0:
        raise ValidationError(
            {
                "connector_number": "A TxProfile is set on the connector of "
                "a running transaction, not 0."
            }
        )
    _check_connector(station, connector_number)


def charging_profile_apply(
    *,
    profile: ChargingProfile,
    station: Station,
    connector_number: int,
    requested_by: str = "",
    transaction_id: int | None = None,
) -> CommandResult:
    """Set the profile on a station's connector (0 = the whole station) and record the
    charger's answer. Raises ValidationError for a profile or target that cannot be sent."""
    _check_target(profile, station, connector_number)
    result = send_command(
        station=station,
        action="SetChargingProfile",
        requested_by=requested_by,
        payload={
            "connectorId": connector_number,
            "csChargingProfiles": profile.as_ocpp(transaction_id=transaction_id),
        },
    )
    _record(profile, station, connector_number, result)
    return result


@transaction.atomic
def _record(
    profile: ChargingProfile, station: Station, connector_number: int, result: CommandResult
) -> None:
    now = timezone.now()
    answer = (result.response or {}).get("status", "")
    status = ANSWERS.get(answer, Assignment.Status.NOT_DELIVERED)
    detail = (
        ""
        if answer
        else " ".join(filter(None, [result.status, result.error_code, result.error_description]))[
            :300
        ]
    )
    assignment, created = Assignment.objects.select_for_update().get_or_create(
        profile=profile,
        station=station,
        connector_number=connector_number,
        defaults={
            "status": status,
            "detail": detail,
            "command_id": result.command_id,
            "sent_at": now,
        },
    )
    if not created:
        if (
            status == Assignment.Status.NOT_DELIVERED
            and assignment.status == Assignment.Status.ACCEPTED
        ):
            # an unanswered re-send leaves the profile the charger accepted before
            status = Assignment.Status.ACCEPTED
            detail = f"re-send not delivered: {detail}"[:300]
        assignment.status, assignment.detail = status, detail
        assignment.command_id, assignment.sent_at, assignment.cleared_at = (
            result.command_id,
            now,
            None,
        )
        assignment.save()
    if status == Assignment.Status.ACCEPTED and answer == "Accepted":
        installed = Assignment.objects.filter(station=station, status=Assignment.Status.ACCEPTED)
        same_id = installed.filter(profile=profile).exclude(pk=assignment.pk)
        same_slot = installed.filter(
            connector_number=connector_number,
            profile__stack_level=profile.stack_level,
            profile__purpose=profile.purpose,
        ).exclude(pk=assignment.pk)
        (same_id | same_slot).update(
            status=Assignment.Status.REPLACED,
            detail=f"replaced by profile {profile.charging_profile_id} "
            f"on connector {connector_number}",
        )


def charging_profile_clear(
    *,
    station: Station,
    profile: ChargingProfile | None = None,
    connector_number: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
    requested_by: str = "",
) -> CommandResult:
    """ClearChargingProfile with the given criteria (none: every profile but the
    charger's own). Assignments matching them are marked Cleared once it answers
    Accepted; `Unknown` (nothing matched) changes nothing."""
    payload: dict = {}
    if profile is not None:
        payload["id"] = profile.charging_profile_id
    if connector_number is not None:
        payload["connectorId"] = connector_number
    if purpose:
        payload["chargingProfilePurpose"] = purpose
    if stack_level is not None:
        payload["stackLevel"] = stack_level
    result = send_command(
        station=station, action="ClearChargingProfile", payload=payload, requested_by=requested_by
    )
    if (result.response or {}).get("status") == "Accepted":
        cleared = Assignment.objects.filter(station=station, status=Assignment.Status.ACCEPTED)
        if profile is not None:
            cleared = cleared.filter(profile=profile)
        if connector_number is not None:
            cleared = cleared.filter(connector_number=connector_number)
        if purpose:
            cleared = cleared.filter(profile__purpose=purpose)
        if stack_level is not None:
            cleared = cleared.filter(profile__stack_level=stack_level)
        cleared.update(
            status=Assignment.Status.CLEARED, cleared_at=timezone.now(), detail="cleared"
        )
    return result


def composite_schedule_get(
    *,
    station: Station,
    connector_number: int,
    duration: int,
    charging_rate_unit: str | None = None,
    requested_by: str = "",
) -> CommandResult:
    """The schedule the charger will actually follow on a connector (0: the station's
    total) for the next `duration` seconds, as the charger computes it from its profiles."""
    _check_connector(station, connector_number)
    if duration <= 0:
        raise ValidationError({"duration": "Seconds, more than 0."})
    payload: dict = {"connectorId": connector_number, "duration": duration}
    if charging_rate_unit:
        payload["chargingRateUnit"] = charging_rate_unit
    return send_command(
        station=station, action="GetCompositeSchedule", payload=payload, requested_by=requested_by
    )
