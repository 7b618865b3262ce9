"""Operator decisions on the billing review queue (parked `unbilled_transaction` and
`stop_after_settlement` messages, see `review_models.py`).

- `transaction_bill_to_client`: a stopped charger transaction nobody was billed for (its
  id tag had no owner, or no tariff applied at its start) is billed to a client the
  operator names: an `id_tag`-origin session is created for it with the price that client
  paid at the transaction's start, settled once, and its parked messages are resolved.
- `review_bill_energy`: an implausible meter reading (`implausible_meter`, billed up to
  the last plausible reading) decided by an operator: the session's energy corrected, the
  difference charged or refunded through the wallet.
- `review_write_off`: resolve a parked message without moving money; a note is mandatory.

Lock order as everywhere in charging: OCPP transaction → client wallet → session → hold.
"""

from __future__ import annotations

import logging

from django.db import transaction
from rest_framework import status

from accounts.models import Client
from charging.session.models import ChargingSession
from charging.session.settle import session_lock, session_rebill_energy, session_settle
from charging.transaction_models import OcppTransaction
from payments.wallet import wallet_lock
from stations.models import Connector
from stations.pricing import NoTariff, quote_for_client

from . import errors
from .parked import parked_message_resolve
from .parked_models import ParkedMessage

log = logging.getLogger("charging")
Status = ChargingSession.Status


class TransactionNotFound(errors.ChargingError):
    code_name = "NOT_FOUND"
    http_status = status.HTTP_404_NOT_FOUND


class TransactionNotStopped(errors.ChargingError):
    """Still running: its session would be billed by the StopTransaction, which this
    transaction already passed without one. Bill it once the charger reports the stop."""

    code_name = "TRANSACTION_NOT_STOPPED"


class TransactionAlreadyBilled(errors.ChargingError):
    code_name = "TRANSACTION_ALREADY_BILLED"


class ClientNotBillable(errors.ChargingError):
    code_name = "CLIENT_NOT_BILLABLE"


class NoteRequired(errors.ChargingError):
    code_name = "NOTE_REQUIRED"
    http_status = status.HTTP_400_BAD_REQUEST


def transaction_bill_to_client(
    *, transaction_id: int, client: Client, staff, note: str = ""
) -> ChargingSession:
    """Bill a stopped, unbilled transaction to `client`: one COMPLETED session, its cost
    charged to the client's wallet (debt beyond the balance), the transaction's unresolved
    `unbilled_transaction` messages resolved by `staff`. Raises a ChargingError (and moves
    nothing) when the transaction runs, already has a session, or cannot be priced."""
    staff_name = staff.get_username() if staff is not None else "system"
    with transaction.atomic():
        tx = OcppTransaction.objects.select_for_update().filter(pk=transaction_id).first()
        if tx is None:
            raise TransactionNotFound({"transaction": transaction_id})
        if tx.status != OcppTransaction.Status.STOPPED or tx.meter_stop is None:
            raise TransactionNotStopped({"transaction": tx.pk, "status": tx.status})
        existing = (
            ChargingSession.objects.filter(transaction=tx).values_list("pk", flat=True).first()
        )
        if existing is not None:
            raise TransactionAlreadyBilled({"transaction": tx.pk, "session": existing})
        if client.status == Client.Status.DELETED:
            raise ClientNotBillable({"client": client.pk, "status": client.status})
        connector = Connector.objects.filter(
            station_id=tx.station_id, number=tx.connector_number
        ).first()
        try:
            if connector is None:
                raise NoTariff(None, tx.started_at)
            quote = quote_for_client(connector=connector, at=tx.started_at, client=client)
        except NoTariff:
            raise errors.TariffNotAvailable(
                {"transaction": tx.pk, "connector": tx.connector_number}
            ) from None
        wallet_lock(client_id=client.pk)
        session = ChargingSession.objects.create(
            client=client,
            station_id=tx.station_id,
            connector=connector,
            connector_number=tx.connector_number,
            origin=ChargingSession.Origin.ID_TAG,
            id_tag=tx.id_tag,
            limit_type=ChargingSession.LimitType.NONE,
            tariff=quote.as_snapshot(),
            currency=quote.currency,
            status=Status.CHARGING,
            transaction=tx,
            meter_start_wh=tx.meter_start,
            charging_started_at=tx.started_at,
        )
        session = session_lock(session.pk)
        session_settle(
            session,
            meter_stop_wh=tx.meter_stop,
            stopped_at=tx.stopped_at,
            reason=ChargingSession.StopReason.CHARGER,
        )
        resolution = (
            f"billed to client {client.pk} as session {session.pk}: "
            f"{session.final_cost} {session.currency}"
            + (f"; {note.strip()}" if note.strip() else "")
        )
        parked = ParkedMessage.objects.filter(
            station_id=tx.station_id,
            transaction_id=tx.pk,
            resolved_at__isnull=True,
            reason=ParkedMessage.Reason.UNBILLED_TRANSACTION,
        ).order_by("id")
        for message in parked:
            parked_message_resolve(message=message, user=staff, note=resolution)
    log.info(
        "transaction %s billed to client %s by staff %s: session %s, %s %s",
        tx.pk,
        client.pk,
        staff_name,
        session.pk,
        session.final_cost,
        session.currency,
    )
    return session


class NotImplausibleReading(errors.ChargingError):
    code_name = "NOT_AN_IMPLAUSIBLE_READING"
    http_status = status.HTTP_400_BAD_REQUEST


class SessionNotBilledYet(errors.ChargingError):
    """The reading was parked mid-charge: decide once the session is billed (its bill is
    what is corrected)."""

    code_name = "SESSION_NOT_BILLED_YET"


class InvalidEnergy(errors.ChargingError):
    code_name = "INVALID_ENERGY"
    http_status = status.HTTP_400_BAD_REQUEST


class AlreadyResolved(errors.ChargingError):
    code_name = "ALREADY_RESOLVED"


def review_bill_energy(
    *, message: ParkedMessage, energy_wh: int, staff, note: str = ""
) -> ChargingSession:
    """An operator's decision on an implausible meter reading (charging/plausibility.py):
    the session's energy is `energy_wh` (the corrected figure). The bill is recomputed
    from the session's frozen tariff and the difference moved through the wallet's
    services, keyed by the review item (a retry moves nothing): more is charged (a debt
    beyond the balance, this being a person's decision), less is refunded. The item is
    resolved with the staff member and the figures."""
    if message.reason != ParkedMessage.Reason.IMPLAUSIBLE_METER:
        raise NotImplausibleReading({"message": message.pk, "reason": message.reason})
    if energy_wh is None or energy_wh < 0:
        raise InvalidEnergy({"energy_wh": energy_wh})
    staff_name = staff.get_username() if staff is not None else "system"
    with transaction.atomic():
        item = ParkedMessage.objects.select_for_update().get(pk=message.pk)
        if item.resolved_at is not None:
            raise AlreadyResolved({"message": item.pk, "note": item.resolution_note})
        session_id = (
            (
                ChargingSession.objects.filter(
                    transaction_id=item.transaction_id, station_id=item.station_id
                )
                .values_list("pk", flat=True)
                .first()
            )
            if item.transaction_id
            else None
        )
        if session_id is None:
            raise TransactionNotFound({"message": item.pk, "transaction": item.transaction_id})
        OcppTransaction.objects.select_for_update().filter(pk=item.transaction_id).first()
        session = session_lock(session_id)  # lock order: transaction, wallet, session
        if not session.settled:
            raise SessionNotBilledYet({"session": session.pk, "status": session.status})
        difference = session_rebill_energy(
            session, energy_wh=energy_wh, staff=staff, key=f"session:{session.pk}:review:{item.pk}"
        )
        resolution = (
            f"billed {energy_wh} Wh (was {item.payload.get('billed_energy_wh', '?')}"
            f" Wh): {difference:+} {session.currency} by {staff_name}"
            + (f"; {note.strip()}" if note.strip() else "")
        )
        parked_message_resolve(message=item, user=staff, note=resolution)
        message.resolved_at = item.resolved_at
    log.info(
        "implausible reading %s (session %s) decided by %s: %s Wh, %s %s",
        message.pk,
        session.pk,
        staff_name,
        energy_wh,
        difference,
        session.currency,
    )
    return session


def review_write_off(*, message: ParkedMessage, staff, note: str) -> bool:
    """Resolve a parked message without billing anyone (the operator says why). Returns
    whether this call resolved it (False: someone already had)."""
    note = (note or "").strip()
    if not note:
        raise NoteRequired({"message": message.pk})
    resolved = parked_message_resolve(message=message, user=staff, note=f"written off: {note}")
    if resolved:
        log.info(
            "parked message %s (%s, transaction %s) written off by %s: %s",
            message.pk,
            message.reason,
            message.transaction_id,
            staff.get_username() if staff is not None else "system",
            note,
        )
    return resolved
