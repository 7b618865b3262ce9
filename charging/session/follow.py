"""What the charger's transaction messages do to charging sessions. Called by
`charging.transactions` inside its transactions, with the OCPP transaction row locked (the
first lock of the charging lock order: transaction → wallet → session → hold).

- StartTransaction: link the app's PENDING session with the same (station, connector,
  id tag); otherwise an id tag with an owner gets a session of its own (billed to that
  owner's wallet); a tag without one is billed by nobody until an operator decides
  (parked at the stop, with the energy it took).
- MeterValues: live energy, power, SoC and cost so far; the limit check that asks for
  ONE RemoteStopTransaction (the caller sends it after the commit).
- StopTransaction: the bill (charging.session.settle), once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.notifications.service import notify_session_started
from charging.metering import normalise
from charging.parked import park_message
from charging.parked_models import ParkedMessage
from charging.session.limits import Limit, Progress, cost_of, percent_of_limit, stop_reason
from charging.session.models import ChargingSession
from charging.session.settle import session_end_unbilled, session_lock, session_settle
from charging.transaction_models import OcppTransaction
from payments.wallet import wallet_hold, wallet_lock
from stations.models import Connector, IdTag
from stations.pricing import NoTariff, Quote, quote_for_client

Status = ChargingSession.Status
Reason = ChargingSession.StopReason
LATE_START_WINDOW = timedelta(hours=1)  # how long a driver's unanswered start request stands
POWER = "Power.Active.Import"
SOC = "SoC"
POWER_LIMIT_W = 2**31 // 4  # ChargingSession.power_w is 32-bit; phases are summed


@dataclass(frozen=True)
class SessionNews:
    """A session changed: what the driver's app is told (and, with `stop`, the
    RemoteStopTransaction the caller must send)."""

    client_id: int
    event: dict
    stop: tuple[int, int, str] | None = None  # (session id, transaction id, reason)


# -- start -------------------------------------------------------------------------------


def session_on_start(tx: OcppTransaction, tag: IdTag | None) -> ChargingSession | None:
    """Link or create the session of a new transaction (idempotent per transaction)."""
    if ChargingSession.objects.filter(transaction=tx).exists():
        return None
    pending_id = (
        ChargingSession.objects.filter(
            station_id=tx.station_id, connector_number=tx.connector_number, status=Status.PENDING
        )
        .values_list("pk", flat=True)
        .first()
    )
    if pending_id is not None:
        session = session_lock(pending_id)
        if session.status == Status.PENDING and session.id_tag == tx.id_tag:
            _link(session, tx)
            return session
        if session.status == Status.PENDING:  # someone else started on this connector
            session_end_unbilled(
                session,
                status=Status.FAILED,
                reason=Reason.CONNECTOR_TAKEN,
                detail=f"id tag {tx.id_tag} started transaction {tx.pk} on the connector first",
            )
    if tag is None or tag.client_id is None:
        return None  # billed by nobody yet: parked at the stop (session_on_stop)
    if tag.kind == IdTag.Kind.APP:
        return _late_app_start(tx, tag)
    return _owner_session(tx, tag)


def _late_app_start(tx: OcppTransaction, tag: IdTag) -> ChargingSession | None:
    """The charger started on a driver's app tag with no pending session: its start came
    after we gave up (no answer in time, not plugged in within the limit). The driver's
    request stands — a new session with the same limit and frozen tariff, and a new hold.
    None when there is no such request (the driver stopped it, or it is too old) or no
    money for the hold: the caller then answers Invalid, so the charger ends it, and the
    stop is parked for review."""
    earlier = (
        ChargingSession.objects.filter(
            station_id=tx.station_id,
            connector_number=tx.connector_number,
            id_tag=tx.id_tag,
            origin=ChargingSession.Origin.APP,
            transaction__isnull=True,
            stop_reason__in=[Reason.START_TIMEOUT, Reason.NO_PLUG_IN],
            created_at__gte=tx.started_at - LATE_START_WINDOW,
        )
        .order_by("-id")
        .first()
    )
    if earlier is None:
        return None
    wallet = wallet_lock(client_id=tag.client_id)  # lock order: transaction, wallet, session
    amount = min(earlier.hold_amount, wallet.available)
    if amount <= 0:
        return None
    session = ChargingSession.objects.create(
        client_id=tag.client_id,
        station_id=tx.station_id,
        connector_id=earlier.connector_id,
        connector_number=tx.connector_number,
        origin=ChargingSession.Origin.APP,
        id_tag=tx.id_tag,
        limit_type=earlier.limit_type,
        limit_energy_wh=earlier.limit_energy_wh,
        limit_amount=earlier.limit_amount,
        tariff=earlier.tariff,
        currency=earlier.currency,
        hold_amount=amount,
        status=Status.CHARGING,
        failure_detail=f"started late: session {earlier.pk} had ended ({earlier.stop_reason})",
    )
    session.hold = wallet_hold(
        client=tag.client,
        amount=amount,
        ref=("session", session.pk),
        key=f"session:{session.pk}:hold",
    )
    _link(session, tx)
    return session


def _link(session: ChargingSession, tx: OcppTransaction) -> None:
    session.transaction = tx
    session.status = Status.CHARGING
    session.meter_start_wh = tx.meter_start
    session.charging_started_at = tx.started_at
    session.save()
    notify_session_started(session)  # pushed after the commit


def _owner_session(tx: OcppTransaction, tag: IdTag) -> ChargingSession | None:
    connector = Connector.objects.filter(
        station_id=tx.station_id, number=tx.connector_number
    ).first()
    try:
        if connector is None:
            raise NoTariff(None, tx.started_at)
        quote = quote_for_client(connector=connector, at=tx.started_at, client=tag.client)
    except NoTariff:
        park_message(
            station_id=tx.station_id,
            action="StartTransaction",
            payload={"transactionId": tx.pk, "idTag": tx.id_tag},
            reason=ParkedMessage.Reason.UNBILLED_TRANSACTION,
            transaction_id=tx.pk,
            detail=f"no tariff for connector {tx.connector_number}: cannot bill "
            f"client {tag.client_id}",
        )
        return None
    session = ChargingSession.objects.create(
        client_id=tag.client_id,
        station_id=tx.station_id,
        connector=connector,
        connector_number=tx.connector_number,
        origin=ChargingSession.Origin.ID_TAG,
        id_tag=tx.id_tag,
        limit_type=ChargingSession.LimitType.NONE,
        # never PENDING, not even for a moment: an app start on this connector may have
        # just committed its own pending session (one_pending_session_per_connector)
        tariff=quote.as_snapshot(),
        currency=quote.currency,
        status=Status.CHARGING,
    )
    _link(session, tx)
    return session


# -- meter values ------------------------------------------------------------------------


@dataclass(frozen=True)
class Instant:
    """The latest power and SoC a report carried (sampled values are plain data)."""

    power_w: int | None
    soc: int | None


def instant_of(readings: Iterable) -> Instant:
    power = soc = None
    stamp_p = stamp_s = None
    phases: dict[str, Decimal] = {}
    for r in readings:
        if r.measurand == POWER and r.format != "SignedData":
            value, _ = normalise(r.value, r.measurand, r.unit, r.format)
            if value is None or abs(value) > POWER_LIMIT_W:
                continue  # not a number, or no power a session could have (kept as sent)
            if not r.phase and (stamp_p is None or r.timestamp >= stamp_p):
                power, stamp_p = int(value), r.timestamp
            elif r.phase:
                phases[r.phase] = value
        elif r.measurand == SOC:
            value, _ = normalise(r.value, r.measurand, r.unit, r.format)
            if value is not None and (stamp_s is None or r.timestamp >= stamp_s):
                soc, stamp_s = int(min(max(value, 0), 100)), r.timestamp
    if power is None and phases:  # per-phase only: the total is L1+L2+L3 (or the -N set)
        for names in (("L1", "L2", "L3"), ("L1-N", "L2-N", "L3-N")):
            if any(name in phases for name in names):
                power = int(sum(phases.get(name, 0) for name in names))
                break
    return Instant(power_w=power, soc=soc)


def sessions_follow_meter(
    moved: dict[int, OcppTransaction], instants: dict[int, Instant]
) -> list[SessionNews]:
    """Move the live figures of the sessions of these transactions (registers already
    advanced in memory) and decide limit stops. Locks the sessions (after the
    transactions, which the caller holds)."""
    session_ids = sorted(
        tx.live_session for tx in moved.values() if getattr(tx, "live_session", None)
    )
    if not session_ids:
        return []
    sessions = _locked_live_sessions(session_ids)
    news, rows = [], []
    for session in sessions:
        tx = moved[session.transaction_id]
        instant = instants.get(tx.pk, Instant(None, None))
        stop = _follow(session, tx, instant)
        rows.append(session)
        news.append(
            SessionNews(client_id=session.client_id, event=session_event(session), stop=stop)
        )
    _save_live(rows)
    return news


LIVE_FIELDS = (
    "id",
    "client_id",
    "station_id",
    "connector_number",
    "transaction_id",
    "status",
    "limit_type",
    "limit_energy_wh",
    "limit_amount",
    "hold_amount",
    "tariff",
    "currency",
    "energy_wh",
    "power_w",
    "soc_percent",
    "cost",
    "meter_at",
    "energy_changed_at",
    "charging_started_at",
    "stop_requested_at",
    "stop_requested_by",
    "stop_reason",
    "final_cost",
)


def _locked_live_sessions(ids: list[int]) -> list[ChargingSession]:
    """The running sessions with these ids, locked in id order (raw SQL: the hot path)."""
    table = connection.ops.quote_name(ChargingSession._meta.db_table)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return list(
        ChargingSession.objects.raw(
            f"SELECT {', '.join(LIVE_FIELDS)} FROM {table} "  # noqa: S608 - names from the model
            f"WHERE id IN ({', '.join(['%s'] * len(ids))}) "
            f"AND status IN ('charging', 'finishing') ORDER BY id{lock}",
            ids,
        )
    )


def _follow(
    session: ChargingSession, tx: OcppTransaction, instant: Instant
) -> tuple[int, int, str] | None:
    energy = max((tx.last_meter_wh or tx.meter_start) - tx.meter_start, 0)
    at = tx.last_meter_at
    if instant.power_w is not None:
        session.power_w = instant.power_w
    elif session.meter_at is not None and at is not None and at > session.meter_at:
        seconds = (at - session.meter_at).total_seconds()
        session.power_w = int((energy - session.energy_wh) * 3600 / seconds)
    if instant.soc is not None:
        session.soc_percent = instant.soc
    if energy > session.energy_wh:
        session.energy_changed_at = at
    session.energy_wh, session.meter_at = energy, at
    started = session.charging_started_at or at
    seconds = max(int((at - started).total_seconds()), 0) if at and started else 0
    quote = Quote.from_snapshot(session.tariff)
    progress = Progress(energy_wh=energy, charging_seconds=seconds, power_w=session.power_w)
    session.cost = cost_of(quote, progress)
    if session.status != Status.CHARGING or session.stop_requested_at is not None:
        return None
    if session.limit_type == ChargingSession.LimitType.NONE and not session.hold_amount:
        return None  # an id tag's session: nothing to stop at (overrun becomes debt)
    reason = stop_reason(
        _limit(session),
        quote,
        progress,
        hold=session.hold_amount,
        lookahead_seconds=settings.CHARGING_STOP_LOOKAHEAD_SECONDS,
    )
    if reason is None:
        return None
    session.stop_requested_at, session.stop_requested_by = timezone.now(), "limit"
    session.stop_reason = reason
    return session.pk, tx.pk, reason


def _limit(session: ChargingSession) -> Limit:
    return Limit(
        type=session.limit_type, energy_wh=session.limit_energy_wh, amount=session.limit_amount
    )


LIVE_COLUMNS = (
    "energy_wh",
    "power_w",
    "soc_percent",
    "cost",
    "meter_at",
    "energy_changed_at",
    "stop_requested_at",
    "stop_requested_by",
    "stop_reason",
    "updated_at",
)


def _save_live(sessions: Sequence[ChargingSession]) -> None:
    """One parameterised UPDATE per session, sent as a batch (the hot path: see
    charging.transactions._save_registers)."""
    if not sessions:
        return
    ops = connection.ops
    now = timezone.now()
    table = ops.quote_name(ChargingSession._meta.db_table)
    sets = ", ".join(f"{column} = %s" for column in LIVE_COLUMNS)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {sets} WHERE id = %s",  # noqa: S608 - names from the model
            [
                (
                    s.energy_wh,
                    s.power_w,
                    s.soc_percent,
                    ops.adapt_decimalfield_value(s.cost, 12, 2),
                    ops.adapt_datetimefield_value(s.meter_at),
                    ops.adapt_datetimefield_value(s.energy_changed_at),
                    ops.adapt_datetimefield_value(s.stop_requested_at),
                    s.stop_requested_by,
                    s.stop_reason,
                    ops.adapt_datetimefield_value(now),
                    s.pk,
                )
                for s in sessions
            ],
        )


def session_event(session: ChargingSession) -> dict:
    """The app's live view of a session (also pushed on its realtime socket)."""
    percent = percent_of_limit(
        _limit(session),
        Progress(session.energy_wh, 0, session.power_w),
        session.cost,
        hold=session.hold_amount,
    )
    return {
        "kind": "session",
        "session": session.pk,
        "status": session.status,
        "station": session.station_id,
        "connector": session.connector_number,
        "transaction": session.transaction_id,
        "energy_wh": session.energy_wh,
        "power_w": session.power_w,
        "soc_percent": session.soc_percent,
        "cost": str(session.cost),
        "currency": session.currency,
        "percent_of_limit": percent,
        "stop_reason": session.stop_reason,
        "final_cost": None if session.final_cost is None else str(session.final_cost),
    }


# -- stop --------------------------------------------------------------------------------


def session_on_stop(tx: OcppTransaction, raw: dict, now: datetime) -> SessionNews | None:
    """Bill the transaction's session once (the transaction was just stopped, locked)."""
    session_id = ChargingSession.objects.filter(transaction=tx).values_list("pk", flat=True).first()
    if session_id is None:
        park_message(
            station_id=tx.station_id,
            action="StopTransaction",
            payload=raw,
            reason=ParkedMessage.Reason.UNBILLED_TRANSACTION,
            transaction_id=tx.pk,
            detail=f"id tag {tx.id_tag} has no owner to bill: "
            f"{tx.energy_wh} Wh from {tx.started_at:%Y-%m-%d %H:%M} UTC",
        )
        return None
    session = session_lock(session_id)
    if session.settled:
        if session.meter_stop_wh is not None and tx.meter_stop != session.meter_stop_wh:
            park_message(
                station_id=tx.station_id,
                action="StopTransaction",
                payload=raw,
                reason=ParkedMessage.Reason.STOP_AFTER_SETTLEMENT,
                transaction_id=tx.pk,
                detail=f"session {session.pk} was billed for meter "
                f"{session.meter_stop_wh} Wh; the charger reports "
                f"{tx.meter_stop} Wh",
            )
        return None
    session_settle(
        session,
        meter_stop_wh=tx.meter_stop,
        stopped_at=tx.stopped_at,
        reason=Reason.CHARGER,
        now=now,
        raw=raw,
    )
    return SessionNews(client_id=session.client_id, event=session_event(session))
