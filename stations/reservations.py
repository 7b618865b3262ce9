"""Reservations (OCPP 1.6 ReserveNow / CancelReservation) and how starts honour them.

The reservation's primary key, from a database sequence, is the OCPP reservationId.
The row is committed before ReserveNow goes out (so the id is ours for good) and the
charger's answer is stored after it; the charger is never called inside a database
transaction. Every later change is a conditional UPDATE from the statuses it may leave,
so a late answer, a StartTransaction and the expiry job can race without undoing
each other.

What a start does to reservations (`reservation_start_conflict`, `reservation_record_start`,
called by charging.transactions.transaction_start in its transaction):
- a start naming a reservation of this station uses it (status used, the transaction
  kept). An expired one is used too: the charger held it, our expiry job only marked the
  clock passing. Anything that does not add up (unknown id, another station, cancelled,
  already used, another id tag) is parked as RESERVATION_CONFLICT for an operator;
- a start without reservationId by the reserved id tag (or one with the reservation's
  parent id tag, which 1.6 lets use it) uses the reservation: some chargers omit the id;
- a start on a connector that another driver had reserved — a reservation the charger
  accepted, in force at the start's own timestamp — is answered idTagInfo `Invalid`, so
  the charger ends it (StopTransactionOnInvalidId) and the reserved driver gets the
  connector; the transaction is recorded (its energy is billed) and parked for review.
  Judged by the start's timestamp, not arrival: a start replayed from an offline queue
  that happened before the reservation existed is no conflict, and a retried start gets
  the same answer. Connector-0 reservations ("any connector") are enforced by the charger
  only: one start cannot tell whether it took the last free connector.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from stations.station_models import IdTag, Reservation, Station

from .charger_port import CommandResult, CommandStatus, format_timestamp, send_command

Status = Reservation.Status
ACTIVE = (Status.PENDING, Status.ACCEPTED)
ANSWERS = {
    "Accepted": Status.ACCEPTED,
    "Faulted": Status.FAULTED,
    "Occupied": Status.OCCUPIED,
    "Rejected": Status.REJECTED,
    "Unavailable": Status.UNAVAILABLE,
}


def reservation_check(
    *,
    station: Station,
    connector_number: int,
    id_tag: str,
    expires_at: datetime,
    now: datetime | None = None,
) -> None:
    """Raise ValidationError (by field) for a reservation that cannot be requested."""
    now = now or timezone.now()
    errors = {}
    if connector_number != 0 and not station.connectors.filter(number=connector_number).exists():
        errors["connector_number"] = f"{station.identity} has no connector {connector_number}."
    if not id_tag or len(id_tag) > 20:
        errors["id_tag"] = "An id tag is 1-20 characters."
    if expires_at <= now:
        errors["expires_at"] = "The reservation must expire in the future."
    if errors:
        raise ValidationError(errors)


def reservation_create(
    *,
    station: Station,
    connector_number: int,
    id_tag: str,
    expires_at: datetime,
    requested_by: str = "",
) -> tuple[Reservation, CommandResult]:
    """Reserve a connector (0 = any) for an id tag and ask the charger to hold it.
    Raises ValidationError for a request that cannot be sent."""
    reservation_check(
        station=station, connector_number=connector_number, id_tag=id_tag, expires_at=expires_at
    )
    parent = (
        IdTag.objects.filter(id_tag=id_tag, parent__isnull=False)
        .values_list("parent__id_tag", flat=True)
        .first()
    )
    with transaction.atomic():
        reservation = Reservation.objects.create(
            station=station,
            connector_number=connector_number,
            id_tag=id_tag,
            parent_id_tag=parent or "",
            expires_at=expires_at,
            requested_by=requested_by[:150],
        )
    payload = {
        "connectorId": connector_number,
        "expiryDate": format_timestamp(expires_at),
        "idTag": id_tag,
        "reservationId": reservation.pk,
    }
    if parent:
        payload["parentIdTag"] = parent
    result = send_command(
        station=station, action="ReserveNow", payload=payload, requested_by=requested_by
    )
    answer = (result.response or {}).get("status", "")
    with transaction.atomic():
        Reservation.objects.filter(pk=reservation.pk).update(charger_status=answer)
        # only from pending: a start may already have used it while the answer travelled
        Reservation.objects.filter(pk=reservation.pk, status=Status.PENDING).update(
            status=ANSWERS.get(answer, Status.FAILED)
        )
    reservation.refresh_from_db()
    return reservation, result


def reservation_cancel(*, reservation: Reservation, requested_by: str = "") -> CommandResult:
    """Ask the charger to drop the reservation; cancelled once it answers Accepted. (A
    charger answers Rejected for a reservation it does not hold: the status is kept and
    the operator sees the answer.)"""
    reservation.refresh_from_db()
    if reservation.status not in ACTIVE:
        return CommandResult(
            command_id=0,
            status=CommandStatus.INVALID,
            error_description=f"reservation {reservation.pk} is "
            f"{reservation.status}: nothing to cancel",
        )
    result = send_command(
        station=reservation.station,
        action="CancelReservation",
        payload={"reservationId": reservation.pk},
        requested_by=requested_by,
    )
    if (result.response or {}).get("status") == "Accepted":
        Reservation.objects.filter(pk=reservation.pk, status__in=ACTIVE).update(
            status=Status.CANCELLED, ended_at=timezone.now()
        )
    reservation.refresh_from_db()
    return result


def reservations_expire(now: datetime | None = None) -> int:
    """Mark reservations past their expiry as expired. One conditional UPDATE: runs that
    overlap (two beat ticks, a manual run) each expire a row at most once in total."""
    now = now or timezone.now()
    return Reservation.objects.filter(status__in=ACTIVE, expires_at__lte=now).update(
        status=Status.EXPIRED, ended_at=now
    )


def reservation_record_charger_update(
    *, station_id: int, reservation_id: int, update: str, now: datetime
) -> bool:
    """The charger ended a reservation on its own (OCPP 2.0.1 ReservationStatusUpdate):
    `Expired` (its time ran out) or `Removed` (e.g. the connector became unavailable).
    Only a reservation of this station still in force changes; a late or repeated update
    changes nothing. Returns whether it changed one."""
    status = {"Expired": Status.EXPIRED, "Removed": Status.CANCELLED}.get(update)
    if status is None:
        return False
    return bool(
        Reservation.objects.filter(
            pk=reservation_id, station_id=station_id, status__in=ACTIVE
        ).update(status=status, ended_at=now)
    )


# --- starts (inside transaction_start's transaction) ------------------------------


def _may_use_q(id_tag: str, parent_id_tag: str | None) -> Q:
    q = Q(id_tag=id_tag)
    if parent_id_tag:
        q |= Q(parent_id_tag=parent_id_tag)
    return q


def reservation_start_conflict(
    *,
    station_id: int,
    connector_id: int,
    id_tag: str,
    parent_id_tag: str | None,
    started_at: datetime,
) -> Reservation | None:
    """Another driver's reservation that held this connector at `started_at`, if any.
    Depends only on the start itself, so a retried start gets the same verdict."""
    in_force = (
        Reservation.objects.filter(
            station_id=station_id,
            connector_number=connector_id,
            charger_status="Accepted",
            created_at__lte=started_at,
            expires_at__gt=started_at,
        )
        # gte: one used by this very start (with the wrong tag) stays in force for
        # its retries
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=started_at))
    )
    return in_force.exclude(_may_use_q(id_tag, parent_id_tag)).order_by("pk").first()


def reservation_record_start(
    *,
    station_id: int,
    connector_id: int,
    id_tag: str,
    parent_id_tag: str | None,
    reservation_id: int | None,
    started_at: datetime,
    transaction_id: int,
) -> list[str]:
    """Mark the reservation this new transaction used. Returns what does not add up
    (to be parked); the start itself is never refused for it."""
    if reservation_id is None:
        used = (
            Reservation.objects.select_for_update()
            .filter(
                _may_use_q(id_tag, parent_id_tag),
                station_id=station_id,
                connector_number=connector_id,
                status=Status.ACCEPTED,
                created_at__lte=started_at,
                expires_at__gt=started_at,
            )
            .order_by("pk")
            .first()
        )
        if used is not None:
            _use(used, transaction_id, started_at)
        return []
    reservation = Reservation.objects.select_for_update().filter(pk=reservation_id).first()
    if reservation is None or reservation.station_id != station_id:
        return [f"reservationId {reservation_id} is not a reservation of this station"]
    if reservation.status == Status.USED:
        return [
            f"reservation {reservation_id} was already used by transaction "
            f"{reservation.transaction_id}"
        ]
    if reservation.status not in (*ACTIVE, Status.EXPIRED):
        return [f"reservation {reservation_id} is {reservation.status}"]
    problems = []
    if reservation.connector_number not in (0, connector_id):
        problems.append(
            f"reservation {reservation_id} was for connector "
            f"{reservation.connector_number}, started on {connector_id}"
        )
    if not (
        id_tag == reservation.id_tag
        or (parent_id_tag and parent_id_tag == reservation.parent_id_tag)
    ):
        problems.append(
            f"reservation {reservation_id} is for id tag {reservation.id_tag}, started by {id_tag}"
        )
    _use(reservation, transaction_id, started_at)
    return problems


def _use(reservation: Reservation, transaction_id: int, started_at: datetime) -> None:
    reservation.status, reservation.transaction_id = Status.USED, transaction_id
    reservation.ended_at = started_at
    reservation.save(update_fields=["status", "transaction_id", "ended_at"])
