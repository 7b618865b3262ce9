"""Charger transactions: start, meter values, stop.

Every service here runs in one database transaction and returns only after it commits,
so the consumer acknowledges a transaction message only once its effect is durable.
Messages can arrive twice, late or out of order (offline queues): natural unique keys
make replays no-ops, and anything that does not add up is parked for an operator —
never refused, because a charger drops a message it got a CALLERROR for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from charging.metering import is_energy_register, normalise
from charging.parked import park_message, parked
from charging.parked_models import ParkedMessage
from charging.plausibility import STORABLE_LIMIT, power_w_or_ceiling, register_move
from charging.session.follow import (
    SessionNews,
    instant_of,
    session_event,
    session_on_start,
    session_on_stop,
    sessions_follow_meter,
)
from charging.session.models import ChargingSession
from charging.transaction_models import MeterSample, OcppTransaction
from stations.models import Connector, IdTag, Reservation, Station
from stations.reservations import reservation_record_start, reservation_start_conflict
from stations.selectors import id_tag_status

FUTURE_TOLERANCE = timedelta(minutes=5)  # charger clocks drift; beyond this we flag it
TRANSACTION_ID_MAX = 2**31 - 1  # OcppTransaction.id is 32-bit


def is_transaction_id(value: int | None) -> bool:
    """Could this be one of our transaction ids? (beyond the column: never ours)"""
    return value is not None and 0 < value <= TRANSACTION_ID_MAX


@dataclass(frozen=True)
class Reading:
    """One sampled value with its meter value's timestamp (plain data, no OCPP types)."""

    timestamp: datetime
    value: str
    measurand: str
    unit: str = ""
    phase: str = ""
    location: str = ""
    context: str = "Sample.Periodic"
    format: str = "Raw"


@dataclass(frozen=True)
class StartResult:
    transaction_id: int
    id_tag_status: str
    created: bool
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None
    news: SessionNews | None = None


@dataclass(frozen=True)
class StopResult:
    id_tag_status: str | None  # when the charger named an id tag
    news: SessionNews | None = None


@transaction.atomic
def transaction_start(
    *,
    station_id: int,
    connector_id: int,
    id_tag: str,
    meter_start: int,
    timestamp: datetime,
    reservation_id: int | None,
    now: datetime,
    raw: dict,
) -> StartResult:
    # Re-check the tag: the charger may have authorised it offline from a stale list.
    status, tag = id_tag_status(id_tag, now)
    parent_id_tag = tag.parent.id_tag if tag and tag.parent else None
    # Another driver's reservation held this connector: answer Invalid so the charger ends
    # the session (rules and reasons in stations/reservations.py).
    conflict = reservation_start_conflict(
        station_id=station_id,
        connector_id=connector_id,
        id_tag=id_tag,
        parent_id_tag=parent_id_tag,
        started_at=timestamp,
    )
    if conflict is not None and status == IdTag.Status.ACCEPTED:
        status = IdTag.Status.INVALID
    tx, created = OcppTransaction.objects.get_or_create(
        station_id=station_id,
        connector_number=connector_id,
        id_tag=id_tag,
        started_at=timestamp,
        meter_start=meter_start,
        defaults={
            "id_tag_status": status,
            "reservation_id": reservation_id,
            "last_meter_wh": meter_start,
            "last_meter_at": timestamp,
        },
    )
    news = None
    if created:
        _flag_start(tx, now, raw)
        _honour_reservations(tx, parent_id_tag, conflict, raw)
        session = session_on_start(tx, tag)
        if session is not None:
            news = SessionNews(client_id=session.client_id, event=session_event(session))
        elif tag is not None and tag.kind == IdTag.Kind.APP and status == IdTag.Status.ACCEPTED:
            # a driver's app tag with no request behind it: tell the charger to end it
            status = tx.id_tag_status = IdTag.Status.INVALID
            tx.save(update_fields=["id_tag_status", "updated_at"])
    return StartResult(
        transaction_id=tx.pk,
        id_tag_status=status,
        created=created,
        expiry_date=tag.expiry_date if tag else None,
        parent_id_tag=tag.parent.id_tag if tag and tag.parent else None,
        news=news,
    )


def _honour_reservations(
    tx: OcppTransaction, parent_id_tag: str | None, conflict: Reservation | None, raw: dict
) -> None:
    problems = reservation_record_start(
        station_id=tx.station_id,
        connector_id=tx.connector_number,
        id_tag=tx.id_tag,
        parent_id_tag=parent_id_tag,
        reservation_id=tx.reservation_id,
        started_at=tx.started_at,
        transaction_id=tx.pk,
    )
    if conflict is not None:
        problems.insert(
            0,
            f"connector reserved for {conflict.id_tag} (reservation "
            f"{conflict.pk}, until {conflict.expires_at.isoformat()}); "
            f"answered {tx.id_tag_status}",
        )
    if problems:
        park_message(
            station_id=tx.station_id,
            action="StartTransaction",
            payload=raw,
            reason=ParkedMessage.Reason.RESERVATION_CONFLICT,
            transaction_id=tx.pk,
            detail="; ".join(problems),
        )


def _flag_start(tx: OcppTransaction, now: datetime, raw: dict) -> None:
    if tx.started_at > now + FUTURE_TOLERANCE:
        park_message(
            station_id=tx.station_id,
            action="StartTransaction",
            payload=raw,
            reason=ParkedMessage.Reason.FUTURE_TIMESTAMP,
            transaction_id=tx.pk,
            detail=f"starts at {tx.started_at.isoformat()}, received {now.isoformat()}",
        )
    still_open = (
        OcppTransaction.objects.filter(
            station_id=tx.station_id,
            connector_number=tx.connector_number,
            status=OcppTransaction.Status.ACTIVE,
            started_at__lt=tx.started_at,
        )
        .exclude(pk=tx.pk)
        .values_list("pk", flat=True)
    )
    for old in still_open:
        park_message(
            station_id=tx.station_id,
            action="StartTransaction",
            payload=raw,
            reason=ParkedMessage.Reason.SUPERSEDED_TRANSACTION,
            transaction_id=old,
            detail=f"transaction {tx.pk} started on the connector while {old} is open",
        )


@dataclass(frozen=True)
class MeterValuesInput:
    station_id: int
    connector_id: int
    transaction_id: int | None
    readings: list[Reading]
    now: datetime
    raw: Any  # the message as received; only serialised if something is parked
    # an event's number (OCPP 2.0.1 TransactionEvent Updated): applied once, in order
    seq_no: int | None = None


def meter_values_record(
    *,
    station_id: int,
    connector_id: int,
    transaction_id: int | None,
    readings: list[Reading],
    now: datetime,
    raw: dict,
) -> None:
    meter_values_record_many(
        [MeterValuesInput(station_id, connector_id, transaction_id, readings, now, raw)]
    )


@transaction.atomic
def meter_values_record_many(reports: Sequence[MeterValuesInput]) -> list[list[SessionNews]]:
    """Store every sampled value once and move each transaction's register forward, for
    many MeterValues at once (one transaction; reports applied in arrival order). Returns,
    per report, the news of the sessions it moved (limit stops to send included)."""
    open_txs = _locked_transactions(
        {(r.station_id, r.transaction_id) for r in reports if r.transaction_id is not None}
    )
    implausible: set[int] = set()  # transactions parked as implausible in this batch
    samples: list[tuple] = []
    parks: list[ParkedMessage] = []
    moved: dict[int, OcppTransaction] = {}
    sequenced: dict[int, OcppTransaction] = {}  # numbered events applied: their new seqNo
    last_report: dict[int, int] = {}  # transaction id -> index of its latest report
    for index, r in enumerate(reports):
        tx = open_txs.get((r.station_id, r.transaction_id))
        if r.seq_no is not None and tx is not None:
            if tx.last_seq_no is not None and r.seq_no <= tx.last_seq_no:
                continue  # an event already applied (a resent queue): no effect
            tx.last_seq_no = r.seq_no
            sequenced[tx.pk] = tx
        if r.transaction_id is not None and tx is None:
            parks.append(
                parked(
                    station_id=r.station_id,
                    action="MeterValues",
                    payload=r.raw,
                    reason=ParkedMessage.Reason.UNKNOWN_TRANSACTION,
                    transaction_id=r.transaction_id,
                    detail="MeterValues for a transaction this station never started",
                )
            )
        rows, too_large = _sample_rows(r.station_id, r.connector_id, tx, r.readings)
        samples += rows
        if too_large:
            parks.append(
                parked(
                    station_id=r.station_id,
                    action="MeterValues",
                    payload=r.raw,
                    reason=ParkedMessage.Reason.VALUE_OUT_OF_RANGE,
                    transaction_id=r.transaction_id,
                    detail="a sampled value too large to store as a number "
                    "(kept as sent, not used)",
                )
            )
        if any(x.timestamp > r.now + FUTURE_TOLERANCE for x in r.readings):
            parks.append(
                parked(
                    station_id=r.station_id,
                    action="MeterValues",
                    payload=r.raw,
                    reason=ParkedMessage.Reason.FUTURE_TIMESTAMP,
                    transaction_id=r.transaction_id,
                    detail=f"sample timestamps after {r.now.isoformat()}",
                )
            )
        if (
            tx is not None
            and tx.status == OcppTransaction.Status.ACTIVE
            and not _replayed_late(tx, r.readings)
        ):
            problem = _advance_register(tx, r.readings, r.raw)
            if problem is not None:
                if problem.reason != ParkedMessage.Reason.IMPLAUSIBLE_METER or _first_implausible(
                    tx, implausible
                ):
                    parks.append(problem)
            else:
                moved[tx.pk] = tx
                last_report[tx.pk] = index
    _insert_samples(samples)
    ParkedMessage.objects.bulk_create(parks)
    _save_registers(list(moved.values()))
    _save_sequence_numbers(list(sequenced.values()))
    news = sessions_follow_meter(
        moved, {tx_id: instant_of(reports[i].readings) for tx_id, i in last_report.items()}
    )
    out: list[list[SessionNews]] = [[] for _ in reports]
    for item in news:
        out[last_report[item.event["transaction"]]].append(item)
    return out


def _first_implausible(tx: OcppTransaction, seen: set[int]) -> bool:
    """Park an implausible register once per transaction, not once per report: a meter
    that jumped keeps reporting from its new base until an operator looks."""
    if tx.pk in seen:
        return False
    seen.add(tx.pk)
    return not ParkedMessage.objects.filter(
        transaction_id=tx.pk,
        station_id=tx.station_id,
        action="MeterValues",
        reason=ParkedMessage.Reason.IMPLAUSIBLE_METER,
        resolved_at__isnull=True,
    ).exists()


def _replayed_late(tx: OcppTransaction, readings: list[Reading]) -> bool:
    """Every reading predates the register's: a report replayed late (offline queue). Its
    samples are stored, but its power and SoC are not the session's figures any more."""
    return (
        tx.last_meter_at is not None
        and bool(readings)
        and max(r.timestamp for r in readings) < tx.last_meter_at
    )


def _save_registers(txs: list[OcppTransaction]) -> None:
    """One parameterised UPDATE per row, sent as a batch. (QuerySet.bulk_update builds a
    CASE expression per row and per field, which cost more than the database work.)"""
    if not txs:
        return
    table = connection.ops.quote_name(OcppTransaction._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET last_meter_wh = %s, last_meter_at = %s, updated_at = %s "  # noqa: S608 - table name from the model
            "WHERE id = %s",
            [
                (
                    tx.last_meter_wh,
                    connection.ops.adapt_datetimefield_value(tx.last_meter_at),
                    connection.ops.adapt_datetimefield_value(tx.updated_at),
                    tx.pk,
                )
                for tx in txs
            ],
        )


def _save_sequence_numbers(txs: list[OcppTransaction]) -> None:
    if not txs:
        return
    table = connection.ops.quote_name(OcppTransaction._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET last_seq_no = %s WHERE id = %s",  # noqa: S608 - table name from the model
            [(tx.last_seq_no, tx.pk) for tx in txs],
        )


def _locked_transactions(keys: set[tuple[int, int]]) -> dict[tuple[int, int], OcppTransaction]:
    """Rows locked in id order (a fixed order: concurrent batches cannot deadlock), keyed by
    (station, id) so one charger can never touch another charger's transaction."""
    # an id beyond the column's range is no transaction of ours (and cannot be queried)
    keys = {(station, tx_id) for station, tx_id in keys if is_transaction_id(tx_id)}
    if not keys:
        return {}
    ids = sorted({tx_id for _, tx_id in keys})
    quote = connection.ops.quote_name
    table = quote(OcppTransaction._meta.db_table)
    sessions = quote(ChargingSession._meta.db_table)
    connectors, stations = quote(Connector._meta.db_table), quote(Station._meta.db_table)
    lock = " FOR UPDATE OF t" if connection.features.has_select_for_update else ""
    # raw SQL: this runs once per meter batch on the hottest path, and compiling the
    # equivalent QuerySet cost more than the query (measured with py-spy). `live_session`
    # (the running session, if any) spares a second query for transactions without one;
    # `max_power_kw` (the connector's, else the station's) bounds a plausible register move.
    rows = OcppTransaction.objects.raw(
        f"SELECT t.id, t.station_id, t.status, t.meter_start, t.last_meter_wh, "  # noqa: S608 - names from the models
        f"t.last_meter_at, t.last_seq_no, "
        f"(SELECT s.id FROM {sessions} s WHERE s.transaction_id = t.id "
        f"AND s.status IN ('charging', 'finishing')) AS live_session, "
        f"COALESCE((SELECT c.max_power_kw FROM {connectors} c WHERE c.station_id = "
        f"t.station_id AND c.number = t.connector_number), (SELECT st.max_power_kw FROM "
        f"{stations} st WHERE st.id = t.station_id)) AS max_power_kw "
        f"FROM {table} t WHERE t.id IN ({', '.join(['%s'] * len(ids))}) ORDER BY t.id{lock}",
        ids,
    )
    return {(tx.station_id, tx.pk): tx for tx in rows if (tx.station_id, tx.pk) in keys}


def _locked_transaction(station_id: int, transaction_id: int) -> OcppTransaction | None:
    return _locked_transactions({(station_id, transaction_id)}).get((station_id, transaction_id))


SAMPLE_COLUMNS = (
    "station_id",
    "connector_number",
    "transaction_id",
    "timestamp",
    "measurand",
    "phase",
    "location",
    "context",
    "format",
    "unit",
    "value",
    "normalised_value",
    "normalised_unit",
    "received_at",
)


def _sample_rows(
    station_id: int, connector_id: int, tx: OcppTransaction | None, readings: list[Reading]
) -> tuple[list[tuple], bool]:
    """MeterSample rows as tuples in SAMPLE_COLUMNS order, values adapted for the DB, and
    whether a value was too large to store as a number (kept as sent, for the caller to
    park)."""
    ops, received = connection.ops, connection.ops.adapt_datetimefield_value(timezone.now())
    rows, too_large = [], False
    for r in readings:
        number, base = normalise(r.value, r.measurand, r.unit, r.format)
        if number is not None and abs(number) >= STORABLE_LIMIT:
            number, too_large = None, True
        rows.append(
            (
                station_id,
                connector_id,
                tx.pk if tx else None,
                ops.adapt_datetimefield_value(r.timestamp),
                r.measurand,
                r.phase,
                r.location,
                r.context,
                r.format,
                r.unit,
                r.value,
                None if number is None else ops.adapt_decimalfield_value(number, 24, 6),
                base,
                received,
            )
        )
    return rows, too_large


def _insert_samples(rows: list[tuple]) -> None:
    """Insert samples, skipping replays (the uniq_meter_sample constraint), with one
    batched statement: model instances and bulk_create cost more than the rows."""
    if not rows:
        return
    table = connection.ops.quote_name(MeterSample._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(SAMPLE_COLUMNS)}) "  # noqa: S608 - names from the model
            f"VALUES ({', '.join(['%s'] * len(SAMPLE_COLUMNS))}) ON CONFLICT DO NOTHING",
            rows,
        )


def _store_samples(
    station_id: int, connector_id: int, tx: OcppTransaction | None, readings: list[Reading]
) -> None:
    _insert_samples(_sample_rows(station_id, connector_id, tx, readings)[0])


def _advance_register(
    tx: OcppTransaction, readings: list[Reading], raw: dict
) -> ParkedMessage | None:
    """Move the in-memory register forward; a reading that went backwards, or further than
    the connector could deliver (charging/plausibility.py), is returned as a parked
    message instead, and the register stays at its last plausible reading."""
    latest = None
    for r in readings:
        if not is_energy_register(r.measurand, r.phase, r.format):
            continue
        wh, _ = normalise(r.value, r.measurand, r.unit, r.format)
        if wh is not None and abs(wh) >= STORABLE_LIMIT:
            continue  # parked as value_out_of_range by the caller
        if wh is not None and (latest is None or r.timestamp >= latest[0]):
            latest = (r.timestamp, int(wh))
    if latest is None:
        return None
    stamp, wh = latest
    if tx.last_meter_at is not None and stamp < tx.last_meter_at:
        return None  # an older reading replayed late: keep the newer one
    if tx.last_meter_wh is not None and wh < tx.last_meter_wh:
        return parked(
            station_id=tx.station_id,
            action="MeterValues",
            payload=raw,
            reason=ParkedMessage.Reason.METER_BACKWARDS,
            transaction_id=tx.pk,
            detail=f"register went from {tx.last_meter_wh} Wh to {wh} Wh",
        )
    verdict = register_move(
        from_wh=tx.last_meter_wh,
        to_wh=wh,
        from_at=tx.last_meter_at,
        to_at=stamp,
        power_w=power_w_or_ceiling(tx.max_power_kw),
    )
    if not verdict.plausible:
        return parked(
            station_id=tx.station_id,
            action="MeterValues",
            payload=raw,
            reason=ParkedMessage.Reason.IMPLAUSIBLE_METER,
            transaction_id=tx.pk,
            detail=f"register {tx.last_meter_wh} Wh to {wh} Wh: {verdict.problem}; "
            f"billing stays at {tx.last_meter_wh} Wh",
        )
    tx.last_meter_wh, tx.last_meter_at = wh, stamp
    tx.updated_at = timezone.now()
    return None


@transaction.atomic
def transaction_stop(
    *,
    station_id: int,
    transaction_id: int,
    meter_stop: int,
    timestamp: datetime,
    id_tag: str | None,
    reason: str,
    readings: list[Reading],
    now: datetime,
    raw: dict,
) -> StopResult:
    """Close the transaction once and bill its session. The id tag's status is returned
    when the charger sent one."""
    tag_status = id_tag_status(id_tag, now)[0] if id_tag else None
    tx = _locked_transaction(station_id, transaction_id)
    if tx is None:
        park_message(
            station_id=station_id,
            action="StopTransaction",
            payload=raw,
            reason=ParkedMessage.Reason.UNKNOWN_TRANSACTION,
            transaction_id=transaction_id,
            detail="StopTransaction for a transaction this station never started",
        )
        _store_samples(station_id, 0, None, readings)
        return StopResult(tag_status)
    if tx.status == OcppTransaction.Status.STOPPED:
        if tx.meter_stop != meter_stop or tx.stopped_at != timestamp:
            park_message(
                station_id=station_id,
                action="StopTransaction",
                payload=raw,
                reason=ParkedMessage.Reason.ALREADY_STOPPED,
                transaction_id=tx.pk,
                detail=f"already stopped at {tx.stopped_at} with {tx.meter_stop} Wh",
            )
        return StopResult(tag_status)  # identical replay: nothing to do
    _store_samples(station_id, tx.connector_number, tx, readings)
    _flag_stop(tx, meter_stop, timestamp, now, raw)
    tx.status = OcppTransaction.Status.STOPPED
    tx.meter_stop, tx.stopped_at = meter_stop, timestamp
    tx.stop_reason, tx.stop_id_tag = reason or "Local", id_tag or ""
    tx.save()
    return StopResult(tag_status, session_on_stop(tx, raw, now))


def _flag_stop(
    tx: OcppTransaction, meter_stop: int, timestamp: datetime, now: datetime, raw: dict
) -> None:
    def park(reason: str, detail: str) -> None:
        park_message(
            station_id=tx.station_id,
            action="StopTransaction",
            payload=raw,
            reason=reason,
            transaction_id=tx.pk,
            detail=detail,
        )

    if timestamp < tx.started_at:
        park(
            ParkedMessage.Reason.STOP_BEFORE_START,
            f"stop {timestamp.isoformat()} before start {tx.started_at.isoformat()}",
        )
    if meter_stop < tx.meter_start:
        park(
            ParkedMessage.Reason.METER_BACKWARDS,
            f"meterStop {meter_stop} Wh below meterStart {tx.meter_start} Wh",
        )
    if timestamp > now + FUTURE_TOLERANCE:
        park(ParkedMessage.Reason.FUTURE_TIMESTAMP, f"stop at {timestamp.isoformat()}")
