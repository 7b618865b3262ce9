"""Ending a session: the bill, computed once from the frozen tariff, and the money moved.

Every ending path (the charger's StopTransaction, a session closed without one, a start
that failed, a charge never plugged in) comes through `session_lock` + one of the two
enders here, inside the caller's transaction. `settled` is checked under the session's
lock, and every ledger call is keyed by the session ("session:<id>:capture"...), so a
second path, a retry or a replay finds the session settled and moves nothing.

Lock order (all charging code): OCPP transaction → client wallet → session → hold.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from accounts.notifications.service import notify_session_ended
from charging.parked import park_message
from charging.parked_models import ParkedMessage
from charging.plausibility import max_power_w, register_move
from charging.session.models import ChargingSession
from charging.transaction_models import OcppTransaction
from payments.money import ZERO
from payments.wallet import (
    wallet_capture,
    wallet_charge,
    wallet_lock,
    wallet_refund,
    wallet_release,
)
from stations.map_cache import location_changed_for_station
from stations.pricing import Quote

Status = ChargingSession.Status


def session_lock(session_id: int) -> ChargingSession:
    """Lock the session's wallet, then the session (call inside transaction.atomic)."""
    client_id = (
        ChargingSession.objects.filter(pk=session_id).values_list("client_id", flat=True).get()
    )
    wallet_lock(client_id=client_id)
    # of=("self",): lock the session row only, not the joined client row (PostgreSQL would
    # lock both, and payment paths lock in another order)
    return (
        ChargingSession.objects.select_for_update(of=("self",))
        .select_related("client")
        .get(pk=session_id)
    )


def session_end_unbilled(
    session: ChargingSession,
    *,
    status: str,
    reason: str,
    detail: str = "",
    now: datetime | None = None,
) -> None:
    """A session that never charged (failed start, no plug-in, cancelled): release the
    hold, bill nothing. `session` must be locked (session_lock)."""
    if session.settled:
        return
    if session.hold_id is not None:
        wallet_release(hold=session.hold, key=f"session:{session.pk}:release")
    now = now or timezone.now()
    session.status, session.stop_reason = status, reason
    session.failure_detail = detail[:300]
    session.final_cost, session.cost = ZERO, ZERO
    session.receipt = {
        "lines": [],
        "total": "0.00",
        "currency": session.currency,
        "paid_from_hold": "0.00",
        "paid_from_balance": "0.00",
        "debt": "0.00",
    }
    session.ended_at = session.ended_at or now
    session.settled, session.settled_at = True, now
    session.save()
    _connector_freed(session)
    notify_session_ended(session)  # pushed after the commit; never blocks the bill


def session_settle(
    session: ChargingSession,
    *,
    meter_stop_wh: int,
    stopped_at: datetime,
    reason: str,
    now: datetime | None = None,
    raw: dict | None = None,
) -> None:
    """Bill a session that charged, once. `session` must be locked (session_lock).
    `raw`: the charger's StopTransaction, kept with a review item if the reading is
    implausible (billed then up to the last plausible reading: `_billable_energy`)."""
    if session.settled:
        return
    now = now or timezone.now()
    quote = Quote.from_snapshot(session.tariff)
    started = session.charging_started_at or stopped_at
    meter_start = session.meter_start_wh if session.meter_start_wh is not None else meter_stop_wh
    energy, under_review = _billable_energy(
        session, meter_start, meter_stop_wh, started, stopped_at, raw
    )
    total_seconds = max(int((stopped_at - started).total_seconds()), 0)
    idle_seconds = _idle_seconds(session, meter_stop_wh, stopped_at, total_seconds)
    cost = quote.cost(
        energy_wh=energy, charging_seconds=total_seconds - idle_seconds, idle_seconds=idle_seconds
    )
    paid = _collect(session, cost.total)
    session.status = Status.COMPLETED
    session.stop_reason = session.stop_reason or reason
    session.meter_stop_wh, session.energy_wh = meter_stop_wh, energy
    session.cost = session.final_cost = cost.total
    session.ended_at = stopped_at
    session.receipt = {
        "lines": _receipt_lines(cost),
        "total": str(cost.total),
        "currency": cost.currency,
        "energy_wh": energy,
        "charging_seconds": total_seconds - idle_seconds,
        "idle_seconds": idle_seconds,
        **({"energy_under_review_wh": under_review} if under_review else {}),
        "rates": {
            "per_kwh": str(quote.per_kwh),
            "per_minute": str(quote.per_minute),
            "session_fee": str(quote.session_fee),
            "idle_fee_per_minute": str(quote.idle_fee_per_minute),
            "idle_grace_minutes": quote.idle_grace_minutes,
            "discount_percent": str(quote.discount_percent),
        },
        **{k: str(v) for k, v in paid.items()},
    }
    session.settled, session.settled_at = True, now
    session.save()
    _connector_freed(session)
    notify_session_ended(session)  # pushed after the commit; never blocks the bill


def _billable_energy(
    session: ChargingSession,
    meter_start: int,
    meter_stop: int,
    started: datetime,
    stopped: datetime,
    raw: dict | None,
) -> tuple[int, int]:
    """(energy to bill, energy left to an operator). The reported energy when the register
    could have moved so far in the time (charging/plausibility.py); otherwise the energy up
    to the transaction's last plausible reading (MeterValues only ever advance it
    plausibly), never above the ceiling, and the reading parked for review."""
    reported = max(meter_stop - meter_start, 0)
    power = max_power_w(session.station_id, session.connector_number)
    verdict = register_move(
        from_wh=meter_start, to_wh=meter_stop, from_at=started, to_at=stopped, power_w=power
    )
    if verdict.plausible:
        return reported, 0
    last = (
        OcppTransaction.objects.filter(pk=session.transaction_id)
        .values_list("last_meter_wh", flat=True)
        .first()
    )
    trusted = (
        max((last if last is not None else meter_start) - meter_start, 0) if meter_start >= 0 else 0
    )
    billed = min(trusted, verdict.ceiling_wh, reported)
    park_message(
        station_id=session.station_id,
        action="StopTransaction" if raw else "SessionClose",
        reason=ParkedMessage.Reason.IMPLAUSIBLE_METER,
        transaction_id=session.transaction_id,
        payload={
            "session": session.pk,
            "meter_start_wh": meter_start,
            "meter_stop_wh": meter_stop,
            "started_at": started,
            "stopped_at": stopped,
            "max_power_w": power,
            "ceiling_wh": verdict.ceiling_wh,
            "billed_energy_wh": billed,
            "stop": raw,
        },
        detail=f"session {session.pk}: {verdict.problem}; billed {billed} Wh of {reported} Wh, "
        f"the rest is for an operator to decide",
    )
    return billed, reported - billed


def session_rebill_energy(session: ChargingSession, *, energy_wh: int, staff, key: str) -> Decimal:
    """Bill a settled session again for `energy_wh` (an operator's corrected figure), from
    its frozen tariff and the same times; the difference is charged or refunded, keyed by
    `key`. Returns the difference. `session` must be locked (session_lock)."""
    quote = Quote.from_snapshot(session.tariff)
    receipt = dict(session.receipt or {})
    idle = int(receipt.get("idle_seconds", 0))
    cost = quote.cost(
        energy_wh=energy_wh,
        charging_seconds=int(receipt.get("charging_seconds", 0)),
        idle_seconds=idle,
    )
    difference = cost.total - (session.final_cost or ZERO)
    ref = ("session", session.pk)
    if difference > 0:
        wallet_charge(client=session.client, amount=difference, ref=ref, key=key)
    elif difference < 0:
        wallet_refund(
            client=session.client,
            amount=-difference,
            ref=ref,
            key=key,
            author=staff,
            reason=f"meter reading corrected to {energy_wh} Wh",
        )
    receipt.pop("energy_under_review_wh", None)
    receipt.update(
        lines=_receipt_lines(cost),
        total=str(cost.total),
        energy_wh=energy_wh,
        corrected={
            "energy_wh": energy_wh,
            "difference": str(difference),
            "by": staff.get_username() if staff is not None else "system",
        },
    )
    session.energy_wh, session.cost, session.final_cost = energy_wh, cost.total, cost.total
    session.receipt = receipt
    session.save(update_fields=["energy_wh", "cost", "final_cost", "receipt", "updated_at"])
    return difference


def _receipt_lines(cost) -> list[dict]:
    return [
        {"kind": kind, "amount": str(amount)}
        for kind, amount in (
            ("energy", cost.energy),
            ("time", cost.time),
            ("session_fee", cost.session_fee),
            ("idle", cost.idle),
            ("discount", -cost.discount),
        )
        if amount
    ]


def _connector_freed(session: ChargingSession) -> None:
    """The map shows a connector with an active session as occupied (stations'
    `selectors_map`): its cached summary goes after the commit."""
    location_changed_for_station(session.station_id)


def _idle_seconds(
    session: ChargingSession, meter_stop_wh: int, stopped_at: datetime, total_seconds: int
) -> int:
    """Time plugged in after the energy stopped rising. Known only when samples came in
    and the final register equals the last sampled one (no energy after that sample)."""
    if session.meter_at is None or session.meter_start_wh is None:
        return 0
    if session.meter_start_wh + session.energy_wh != meter_stop_wh:
        return 0
    since = session.energy_changed_at or session.charging_started_at
    if since is None:
        return 0
    return min(max(int((stopped_at - since).total_seconds()), 0), total_seconds)


def _collect(session: ChargingSession, total: Decimal) -> dict[str, Decimal]:
    """Take `total` from the hold (then the balance, then as debt) and free the rest."""
    key = f"session:{session.pk}"
    if session.hold_id is not None:
        capture = wallet_capture(hold=session.hold, amount=total, key=f"{key}:capture")
        wallet_release(hold=capture.hold, key=f"{key}:release")
    elif total > 0:
        capture = wallet_charge(
            client=session.client, amount=total, ref=("session", session.pk), key=f"{key}:charge"
        )
    else:
        return {"paid_from_hold": ZERO, "paid_from_balance": ZERO, "debt": ZERO}
    return {
        "paid_from_hold": capture.from_hold,
        "paid_from_balance": capture.from_balance,
        "debt": capture.debt,
    }
