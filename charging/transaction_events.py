"""Transactions the charger names by its own id and reports as numbered events (OCPP 2.0.1's
TransactionEvent: Started, Updated, Ended). Each event is mapped onto the same services as
a 1.6 charger's StartTransaction, MeterValues and StopTransaction (transactions.py), so
sessions, limits and billing never ask which protocol a charger speaks.

Sequence numbers make replays harmless: an event whose `seq_no` is not above the last one
applied to its transaction has no effect (a charger resending its queue after a
reconnect, say). A gap in the numbers is recorded, not refused: the events still come.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from charging.metering import is_energy_register, normalise
from charging.session.follow import SessionNews
from charging.transaction_models import OcppTransaction
from charging.transactions import (
    MeterValuesInput,
    Reading,
    meter_values_record_many,
    transaction_start,
    transaction_stop,
)
from stations.selectors import id_tag_status

log = logging.getLogger("charging")

STARTED, UPDATED, ENDED = "Started", "Updated", "Ended"


@dataclass(frozen=True)
class TransactionEventInput:
    station_id: int
    remote_id: str  # the charger's transaction id
    seq_no: int
    event_type: str  # Started | Updated | Ended
    timestamp: datetime
    connector_id: int | None  # named in the first event at least
    id_tag: str | None
    readings: list[Reading]
    now: datetime
    raw: dict
    stop_reason: str = ""
    reservation_id: int | None = None
    charging_state: str = ""  # when the charger reports it (a change, at least)
    offline: bool = False  # queued while the charger was offline


@dataclass(frozen=True)
class EventResult:
    transaction_id: int | None  # ours
    id_tag_status: str | None  # when the event named an id token
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None
    replayed: bool = False
    news: tuple[SessionNews, ...] = ()
    # its later Updated events may take the batched meter path (transactions.py):
    # open, and its start register known
    followable: bool = False
    connector_id: int | None = None
    charging_state: str = ""  # the transaction's, after this event


def energy_register_wh(readings: list[Reading]) -> int | None:
    """The latest whole-meter import register among the readings, in Wh."""
    latest = None
    for r in readings:
        if not is_energy_register(r.measurand, r.phase, r.format):
            continue
        wh, _ = normalise(r.value, r.measurand, r.unit, r.format)
        if wh is not None and (latest is None or r.timestamp >= latest[0]):
            latest = (r.timestamp, int(wh))
    return None if latest is None else latest[1]


@transaction.atomic
def transaction_event_record(e: TransactionEventInput) -> EventResult:
    tx = (
        OcppTransaction.objects.select_for_update()
        .filter(station_id=e.station_id, remote_id=e.remote_id)
        .first()
    )
    if tx is not None and tx.last_seq_no is not None and e.seq_no <= tx.last_seq_no:
        return _replay(tx, e)
    news: list[SessionNews] = []
    tag_answer = None
    if tx is None:
        # the first event we see of it: a Started, or (its Started lost) a later one
        started = transaction_start(
            station_id=e.station_id,
            connector_id=e.connector_id or 0,
            id_tag=e.id_tag or "",
            meter_start=energy_register_wh(e.readings) or 0,
            timestamp=e.timestamp,
            reservation_id=e.reservation_id,
            now=e.now,
            raw=e.raw,
        )
        tx = OcppTransaction.objects.select_for_update().get(pk=started.transaction_id)
        tx.remote_id = e.remote_id
        tx.meter_start_pending = energy_register_wh(e.readings) is None
        if started.news is not None:
            news.append(started.news)
        tag_answer = started
    else:
        if tx.last_seq_no is not None and e.seq_no > tx.last_seq_no + 1:
            log.info(
                "transaction %s of station %s: events %s..%s not received",
                e.remote_id,
                e.station_id,
                tx.last_seq_no + 1,
                e.seq_no - 1,
            )
        _take_first_register(tx, e.readings)
    tx.last_seq_no = e.seq_no
    tx.charging_state = e.charging_state or tx.charging_state
    tx.offline_events += int(e.offline)
    tx.save(
        update_fields=[
            "remote_id",
            "last_seq_no",
            "meter_start_pending",
            "meter_start",
            "charging_state",
            "offline_events",
        ]
    )
    if e.event_type == ENDED:
        stopped = transaction_stop(
            station_id=e.station_id,
            transaction_id=tx.pk,
            meter_stop=_end_register(tx, e.readings),
            timestamp=e.timestamp,
            id_tag=e.id_tag,
            reason=e.stop_reason,
            readings=e.readings,
            now=e.now,
            raw=e.raw,
        )
        if stopped.news is not None:
            news.append(stopped.news)
    elif e.readings:
        for items in meter_values_record_many(
            [MeterValuesInput(e.station_id, tx.connector_number, tx.pk, e.readings, e.now, e.raw)]
        ):
            news += items
    followable = e.event_type != ENDED and not tx.meter_start_pending
    if tag_answer is not None:
        return EventResult(
            transaction_id=tx.pk,
            id_tag_status=tag_answer.id_tag_status if e.id_tag else None,
            expiry_date=tag_answer.expiry_date,
            parent_id_tag=tag_answer.parent_id_tag,
            news=tuple(news),
            followable=followable,
            connector_id=tx.connector_number,
            charging_state=tx.charging_state,
        )
    status = id_tag_status(e.id_tag, e.now)[0] if e.id_tag else None
    return EventResult(
        transaction_id=tx.pk,
        id_tag_status=status,
        news=tuple(news),
        followable=followable,
        connector_id=tx.connector_number,
        charging_state=tx.charging_state,
    )


def _replay(tx: OcppTransaction, e: TransactionEventInput) -> EventResult:
    """An event already applied: the same answer, no effect."""
    status = tx.id_tag_status if e.id_tag and e.id_tag == tx.id_tag else None
    if e.id_tag and status is None:
        status = id_tag_status(e.id_tag, e.now)[0]
    return EventResult(transaction_id=tx.pk, id_tag_status=status, replayed=True)


def _take_first_register(tx: OcppTransaction, readings: list[Reading]) -> None:
    """A Started without an energy register: the first register reported is the start."""
    if not tx.meter_start_pending:
        return
    first = energy_register_wh(readings)
    if first is None:
        return
    tx.meter_start = tx.last_meter_wh = first
    tx.meter_start_pending = False
    tx.save(update_fields=["meter_start", "last_meter_wh", "meter_start_pending"])


def _end_register(tx: OcppTransaction, readings: list[Reading]) -> int:
    """The register at the end: the Ended event's, or the last one reported before."""
    end = energy_register_wh(readings)
    if end is not None:
        return end
    return tx.last_meter_wh if tx.last_meter_wh is not None else tx.meter_start
