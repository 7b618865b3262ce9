"""A charger that starts on a driver's app tag after we gave up on the start (no answer in
time, not plugged in within the limit) — or after the driver cancelled — and amount
limits below the minimum."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from charging import errors
from charging.parked_models import ParkedMessage
from charging.session.limits import Limit
from charging.session.models import ChargingSession
from charging.session.start import session_apply_start_answer
from charging.session.stop import session_stop
from charging.session.sweeps import sessions_cancel_unplugged
from payments.tests.support import assert_ledger_consistent
from stations.charger_port import CommandResult

from .support import D, fresh, ocpp_start, ocpp_stop, open_session, wallet

pytestmark = pytest.mark.django_db


def test_start_after_a_timeout_reopens_the_request_with_its_limit_and_a_new_hold(station, driver):
    first = open_session(driver, station, Limit("amount", amount=D("80.00")))
    session_apply_start_answer(
        session_id=first.pk, result=CommandResult(command_id=1, status="timeout")
    )
    assert fresh(first).status == "failed" and wallet(driver).held == D("0.00")

    result = ocpp_start(station, first.id_tag, at=timezone.now())
    assert result.id_tag_status == "Accepted"
    late = ChargingSession.objects.get(transaction_id=result.transaction_id)
    assert (late.origin, late.status, late.limit_type, late.limit_amount, late.hold_amount) == (
        "app",
        "charging",
        "amount",
        D("80.00"),
        D("80.00"),
    )
    assert late.tariff == first.tariff and late.pk != first.pk
    assert wallet(driver).held == D("80.00")
    ocpp_stop(station, result.transaction_id, meter_stop=3_000, at=timezone.now())
    assert fresh(late).final_cost == D("29.00")  # 2 kWh x 12 + 5 (under a minute)
    assert wallet(driver).balance == D("971.00") and wallet(driver).held == D("0.00")
    assert_ledger_consistent()


def test_plug_in_after_the_no_plug_in_cancel_reopens_the_request(station, driver):
    first = open_session(driver, station)
    session_apply_start_answer(
        session_id=first.pk, result=CommandResult(command_id=1, status="accepted")
    )
    ChargingSession.objects.filter(pk=first.pk).update(
        created_at=timezone.now() - timedelta(minutes=11)
    )
    assert sessions_cancel_unplugged() == 1
    result = ocpp_start(station, first.id_tag, at=timezone.now())
    late = ChargingSession.objects.get(transaction_id=result.transaction_id)
    assert late.hold_amount == first.hold_amount and late.status == "charging"
    assert_ledger_consistent()


def test_start_after_the_driver_cancelled_is_answered_invalid_and_parked(station, driver, charger):
    first = open_session(driver, station)
    session_stop(session_id=first.pk, requested_by="client", reason="driver")
    assert fresh(first).status == "cancelled"

    result = ocpp_start(station, first.id_tag, at=timezone.now())
    assert result.id_tag_status == "Invalid"  # the charger ends it (StopTransactionOnInvalidId)
    assert not ChargingSession.objects.filter(transaction_id=result.transaction_id).exists()
    ocpp_stop(station, result.transaction_id, meter_stop=1_050, at=timezone.now())
    parked = ParkedMessage.objects.get(transaction_id=result.transaction_id)
    assert parked.reason == "unbilled_transaction"
    assert wallet(driver).balance == D("1000.00") and wallet(driver).held == D("0.00")


def test_a_late_start_without_money_for_the_hold_is_answered_invalid(station, driver):
    first = open_session(driver, station, Limit("amount", amount=D("1000.00")))
    session_apply_start_answer(
        session_id=first.pk, result=CommandResult(command_id=1, status="timeout")
    )
    other = open_session(driver, station, Limit("amount", amount=D("1000.00")), connector=2)
    result = ocpp_start(station, first.id_tag, at=timezone.now())
    assert result.id_tag_status == "Invalid"
    assert not ChargingSession.objects.filter(transaction_id=result.transaction_id).exists()
    assert fresh(other).status == "pending"
    assert_ledger_consistent()


def test_an_amount_limit_below_the_minimum_is_too_low(station, driver):
    with pytest.raises(errors.LimitTooLow) as caught:
        open_session(driver, station, Limit("amount", amount=D("9.99")))
    assert caught.value.details == {"minimum": "10.00", "currency": "KGS"}
    assert not ChargingSession.objects.exists()
