"""Operator decisions on the billing review queue (parked `unbilled_transaction` and
`stop_after_settlement` messages, see `review_models.py`).

- `transaction_bill_to_client`: a stopped charger transaction nobody was billed for (its
  id tag had no owner, or no tariff applied at its start) is billed to a client the
  operator names: an `id_tag`-origin session is created for it with the price that client
  paid at the transaction's start, settled once, and its parked messages are resolved.
- `review_write_off`: resolve a parked message without moving money; a note is mandatory.

Lock order as everywhere in charging: OCPP transaction → client wallet → session → hold.
"""

from __future__ import annotations

import logging

from django.db import transaction
from rest_framework import status

from accounts.models import Client
from ocpp_bridge.models import ParkedMessage
from ocpp_bridge.services import parked_message_resolve
from payments.wallet import wallet_lock
from stations.models import Connector
from stations.pricing import NoTariff, quote_for_client

from . import errors
from .models import OcppTransaction
from .session_models import ChargingSession
from .settlement import session_lock, session_settle

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


def transaction_bill_to_client(*, transaction_id: int, client: Client, staff,
                               note: str = "") -> ChargingSession:
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
        existing = (ChargingSession.objects.filter(transaction=tx)
                    .values_list("pk", flat=True).first())
        if existing is not None:
            raise TransactionAlreadyBilled({"transaction": tx.pk, "session": existing})
        if client.status == Client.Status.DELETED:
            raise ClientNotBillable({"client": client.pk, "status": client.status})
        connector = Connector.objects.filter(station_id=tx.station_id,
                                             number=tx.connector_number).first()
        try:
            if connector is None:
                raise NoTariff(None, tx.started_at)
            quote = quote_for_client(connector=connector, at=tx.started_at, client=client)
        except NoTariff:
            raise errors.TariffNotAvailable({"transaction": tx.pk,
                                             "connector": tx.connector_number}) from None
        wallet_lock(client_id=client.pk)
        session = ChargingSession.objects.create(
            client=client, station_id=tx.station_id, connector=connector,
            connector_number=tx.connector_number, origin=ChargingSession.Origin.ID_TAG,
            id_tag=tx.id_tag, limit_type=ChargingSession.LimitType.NONE,
            tariff=quote.as_snapshot(), currency=quote.currency, status=Status.CHARGING,
            transaction=tx, meter_start_wh=tx.meter_start, charging_started_at=tx.started_at)
        session = session_lock(session.pk)
        session_settle(session, meter_stop_wh=tx.meter_stop, stopped_at=tx.stopped_at,
                       reason=ChargingSession.StopReason.CHARGER)
        resolution = (f"billed to client {client.pk} as session {session.pk}: "
                      f"{session.final_cost} {session.currency}"
                      + (f"; {note.strip()}" if note.strip() else ""))
        parked = ParkedMessage.objects.filter(
            station_id=tx.station_id, transaction_id=tx.pk, resolved_at__isnull=True,
            reason=ParkedMessage.Reason.UNBILLED_TRANSACTION).order_by("id")
        for message in parked:
            parked_message_resolve(message=message, user=staff, note=resolution)
    log.info("transaction %s billed to client %s by staff %s: session %s, %s %s", tx.pk,
             client.pk, staff_name, session.pk, session.final_cost, session.currency)
    return session


def review_write_off(*, message: ParkedMessage, staff, note: str) -> bool:
    """Resolve a parked message without billing anyone (the operator says why). Returns
    whether this call resolved it (False: someone already had)."""
    note = (note or "").strip()
    if not note:
        raise NoteRequired({"message": message.pk})
    resolved = parked_message_resolve(message=message, user=staff, note=f"written off: {note}")
    if resolved:
        log.info("parked message %s (%s, transaction %s) written off by %s: %s", message.pk,
                 message.reason, message.transaction_id,
                 staff.get_username() if staff is not None else "system", note)
    return resolved
