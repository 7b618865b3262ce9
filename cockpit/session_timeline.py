"""Reads behind a session's admin page: what happened to one session, in order.

Each read is a fixed number of queries and a bounded number of rows, however long the
session ran (a long charge has thousands of meter samples and log frames):
- the commands sent to the charger for it (CommandRecord: RemoteStart naming its id tag,
  RemoteStop naming its transaction, the start command it recorded);
- the charger's transaction frames in the message log (StartTransaction, the newest
  MeterValues, StopTransaction — each with its answer);
- the energy curve from the meter register, thinned out in the database;
- the ledger transactions of ("session", id) with their postings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from charging.metering import ENERGY_REGISTER
from charging.models import MeterSample
from charging.session.models import ChargingSession
from ocpp_bridge.models import CommandRecord, OcppMessage
from payments.models import LedgerTransaction

COMMANDS_SHOWN = 50
METER_FRAMES_SHOWN = 30  # the newest MeterValues frames (and their answers)
START_STOP_FRAMES = 10  # StartTransaction / StopTransaction frames naming the transaction
CURVE_POINTS = 300
LEDGER_SHOWN = 50
TX_ACTIONS = ("StartTransaction", "MeterValues", "StopTransaction")

# log rows are stamped by the server, transaction times by the charger's clock
BEFORE = timedelta(minutes=2)
AFTER = timedelta(minutes=10)


def _window(
    session: ChargingSession, now: datetime | None, *, include_transaction: bool
) -> tuple[datetime, datetime]:
    """From the session's creation (or its transaction's start, if earlier) to its end:
    settlement, the stop request, or — for the log — the last change of its transaction
    (a StopTransaction arriving after a session was closed without it)."""
    now = now or timezone.now()
    tx = session.transaction if session.transaction_id else None
    start = min([session.created_at] + ([tx.started_at] if tx else [])) - BEFORE
    if session.is_active:
        return start, now
    ends = [session.ended_at, session.settled_at, session.stop_requested_at]
    if include_transaction and tx is not None:
        ends.append(tx.updated_at)
    return start, max(t for t in ends if t is not None) + AFTER


def session_commands(session: ChargingSession, now: datetime | None = None) -> list[CommandRecord]:
    """Commands sent to the session's station while it ran that name its id tag or its
    transaction (oldest first, at most COMMANDS_SHOWN)."""
    names = Q(payload__idTag=session.id_tag)
    if session.transaction_id is not None:
        names |= Q(payload__transactionId=session.transaction_id)
    if session.start_command_id is not None:
        names |= Q(pk=session.start_command_id)
    start, end = _window(session, now, include_transaction=False)
    return list(
        CommandRecord.objects.filter(
            names, station_id=session.station_id, created_at__range=(start, end)
        ).order_by("created_at", "id")[:COMMANDS_SHOWN]
    )


@dataclass(frozen=True)
class Frames:
    frames: list[OcppMessage]  # oldest first
    meter_frames_cut: bool  # more MeterValues were logged than shown


def session_frames(session: ChargingSession, now: datetime | None = None) -> Frames:
    """The session's transaction frames in the message log, each with its answer. The log
    stores frames raw, so they are found by their station, time and the transactionId
    they carry (StartTransaction's in its answer; the request is paired by message id)."""
    if session.transaction_id is None:
        return Frames([], False)
    start, end = _window(session, now, include_transaction=True)
    logged = OcppMessage.objects.filter(
        station_id=session.station_id, created_at__range=(start, end)
    )
    named = logged.filter(
        action__in=TX_ACTIONS,
        raw__regex=(rf'"transactionId"\s*:\s*{int(session.transaction_id)}([^0-9]|$)'),
    )
    ends = list(
        named.filter(action__in=["StartTransaction", "StopTransaction"]).order_by(
            "created_at", "id"
        )[:START_STOP_FRAMES]
    )
    meters = list(
        named.filter(action="MeterValues").order_by("-created_at", "-id")[: METER_FRAMES_SHOWN + 1]
    )
    cut = len(meters) > METER_FRAMES_SHOWN
    found = ends + meters[:METER_FRAMES_SHOWN]
    pairs: list[OcppMessage] = []
    for direction in (OcppMessage.Direction.IN, OcppMessage.Direction.OUT):
        ids = {m.message_id for m in found if m.message_id and m.direction != direction}
        if ids:
            pairs += list(
                logged.filter(direction=direction, message_id__in=ids, action__in=TX_ACTIONS)
                .exclude(pk__in=[m.pk for m in found])
                .order_by("created_at", "id")[: 2 * len(ids)]
            )
    return Frames(sorted(found + pairs, key=lambda m: (m.created_at, m.pk)), cut)


@dataclass(frozen=True)
class MeterCurve:
    points: list[tuple[datetime, Decimal]]  # (time, kWh charged so far), oldest first
    readings: int  # register samples stored for the transaction


def session_meter_curve(session: ChargingSession) -> MeterCurve:
    """Energy charged over time from the transaction's energy register samples, thinned
    to about CURVE_POINTS in the database (first and last reading always kept)."""
    tx = session.transaction if session.transaction_id else None
    if tx is None:
        return MeterCurve([], 0)
    base = session.meter_start_wh if session.meter_start_wh is not None else tx.meter_start
    samples = MeterSample.objects.filter(
        transaction_id=tx.pk, measurand=ENERGY_REGISTER, phase="", normalised_value__isnull=False
    )  # SignedData has no number
    count = samples.count()
    step = max(1, math.ceil(count / CURVE_POINTS))
    if step > 1:
        keep = sorted(set(range(1, count + 1, step)) | {count})
        samples = samples.annotate(
            n=Window(RowNumber(), order_by=[F("timestamp").asc(), F("id").asc()])
        ).filter(n__in=keep)
    rows = list(samples.order_by("timestamp", "id").values_list("timestamp", "normalised_value"))
    points = [(tx.started_at, Decimal(tx.meter_start))] + rows
    if tx.meter_stop is not None and tx.stopped_at is not None:
        points.append((tx.stopped_at, Decimal(tx.meter_stop)))
    points.sort(key=lambda p: p[0])
    return MeterCurve([(at, (Decimal(wh) - base) / 1000) for at, wh in points], count)


def session_ledger(session: ChargingSession) -> list[LedgerTransaction]:
    """Ledger transactions of ("session", id), oldest first, postings prefetched."""
    return list(
        LedgerTransaction.objects.filter(ref_type="session", ref_id=str(session.pk))
        .select_related("author")
        .prefetch_related("postings")
        .order_by("id")[:LEDGER_SHOWN]
    )
