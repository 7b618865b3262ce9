"""Shared helpers of the charging tests: sessions opened, started, metered and stopped
through the real services (the command service's answers are given, not sent).
One home for them: test modules import from here, never from each other."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import Client
from charging.session.limits import Limit
from charging.session.models import ChargingSession
from charging.session.start import (
    session_apply_start_answer,
    session_open,
)
from charging.transactions import (
    MeterValuesInput,
    Reading,
    meter_values_record_many,
    transaction_start,
    transaction_stop,
)
from payments.models import Debt, Hold, LedgerTransaction, Wallet
from payments.tests.support import assert_ledger_consistent, new_client
from payments.wallet import wallet_credit_topup
from stations.charger_port import CommandResult, CommandStatus
from stations.models import Connector, Station

D = Decimal
ENERGY = "Energy.Active.Import.Register"


def wallet(client: Client) -> Wallet:
    return Wallet.objects.get(client=client)


def money_state():
    """Everything money: a refusal must leave all of it exactly as it was."""
    return (
        sorted(Wallet.objects.values_list("client_id", "balance", "held", "debt")),
        sorted(LedgerTransaction.objects.values_list("pk", flat=True)),
        sorted(Hold.objects.values_list("pk", "status")),
        Debt.objects.count(),
    )


def bills(session: ChargingSession) -> list[LedgerTransaction]:
    return list(
        LedgerTransaction.objects.filter(
            ref_type="session", ref_id=str(session.pk), kind__in=["capture", "charge"]
        )
    )


def fresh(session: ChargingSession) -> ChargingSession:
    return ChargingSession.objects.get(pk=session.pk)


def base_time():
    return timezone.now().replace(microsecond=0) - timedelta(hours=1)


def open_session(client, station, limit=None, connector=1) -> ChargingSession:
    return session_open(
        client=client,
        station_id=station.pk,
        connector_number=connector,
        limit=limit or Limit("none"),
    )


def ocpp_start(station, id_tag, *, at, meter_start=1_000, connector=1):
    return transaction_start(
        station_id=station.pk,
        connector_id=connector,
        id_tag=id_tag,
        meter_start=meter_start,
        timestamp=at,
        reservation_id=None,
        now=timezone.now(),
        raw={"idTag": id_tag},
    )


def meter_input(station, tx_id, *, wh, at, power=None, soc=None, connector=1):
    readings = [Reading(timestamp=at, value=str(wh), measurand=ENERGY, unit="Wh")]
    if power is not None:
        readings.append(
            Reading(timestamp=at, value=str(power), measurand="Power.Active.Import", unit="W")
        )
    if soc is not None:
        readings.append(Reading(timestamp=at, value=str(soc), measurand="SoC", unit="Percent"))
    return MeterValuesInput(station.pk, connector, tx_id, readings, timezone.now(), {"tx": tx_id})


def meter(station, tx_id, **kwargs):
    """One MeterValues; returns the session news it produced."""
    return meter_values_record_many([meter_input(station, tx_id, **kwargs)])[0]


def ocpp_stop(station, tx_id, *, meter_stop, at, reason="Local"):
    return transaction_stop(
        station_id=station.pk,
        transaction_id=tx_id,
        meter_stop=meter_stop,
        timestamp=at,
        id_tag=None,
        reason=reason,
        readings=[],
        now=timezone.now(),
        raw={"transactionId": tx_id, "meterStop": meter_stop},
    )


def charging_session(client, station, *, at, limit=None, meter_start=1_000, connector=1):
    """Opened, accepted, linked: (session, transaction id)."""
    session = open_session(client, station, limit, connector)
    session_apply_start_answer(
        session_id=session.pk, result=CommandResult(command_id=1, status="accepted")
    )
    tx_id = ocpp_start(
        station, session.id_tag, at=at, meter_start=meter_start, connector=connector
    ).transaction_id
    return fresh(session), tx_id


def assert_unbilled_and_released(session: ChargingSession, *, status: str, reason: str) -> None:
    session = fresh(session)
    assert (session.status, session.stop_reason, session.settled) == (status, reason, True)
    assert session.final_cost == 0 and bills(session) == []
    hold = Hold.objects.get(pk=session.hold_id)
    assert (hold.status, hold.captured, hold.released) == ("released", 0, session.hold_amount)
    assert LedgerTransaction.objects.filter(key=f"session:{session.pk}:release").count() == 1
    assert_ledger_consistent()


# -- a faked charger, an online station, funded drivers ---------------------------------

_refs = itertools.count(1)


class FakeCharger:
    """Stands in for `send_command`: records each call and answers with the next queued
    status (accepted when none is queued). `on_call` runs before the answer: the charger
    acting meanwhile (a StartTransaction before it answers RemoteStart, say)."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.answers: list[str] = []
        self.on_call = None

    def __call__(self, *, station, action, payload=None, timeout=None, requested_by=""):
        self.calls.append((action, dict(payload or {})))
        if self.on_call is not None:
            self.on_call(action, payload)
        status = self.answers.pop(0) if self.answers else CommandStatus.ACCEPTED
        response = (
            {"status": {"accepted": "Accepted", "rejected": "Rejected"}[status]}
            if status in ("accepted", "rejected")
            else None
        )
        return CommandResult(
            command_id=5000 + len(self.calls),
            status=status,
            response=response,
            error_description="" if response else f"charger {status}",
        )

    def actions(self) -> list[str]:
        return [action for action, _ in self.calls]


def online(station: Station) -> Station:
    Station.objects.filter(pk=station.pk).update(connected=True, last_seen_at=timezone.now())
    Connector.objects.filter(station=station).update(status="Available")
    station.refresh_from_db()
    return station


def fund(client: Client, amount: str) -> None:
    n = next(_refs)
    wallet_credit_topup(client=client, amount=D(amount), payment_ref=f"t{n}", key=f"test:topup:{n}")


def funded_client(amount: str = "1000.00") -> Client:
    client = new_client()
    if D(amount):
        fund(client, amount)
    return client
