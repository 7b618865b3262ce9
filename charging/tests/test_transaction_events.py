"""Transactions reported as numbered events (OCPP 2.0.1's TransactionEvent), on PostgreSQL:
each event applied once, gaps tolerated, registers taken where the charger gives them, and
RFID starts billed to the token's owner as for 1.6."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from charging.parked_models import ParkedMessage
from charging.session.models import ChargingSession
from charging.tests.support import funded_client
from charging.transaction_events import TransactionEventInput, transaction_event_record
from charging.transaction_models import MeterSample, OcppTransaction
from charging.transactions import MeterValuesInput, Reading, meter_values_record_many
from payments.models import Wallet
from stations.tests.factories import IdTagFactory

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(minutes=30)


def register(wh: int, minutes: int = 0, context: str = "Sample.Periodic") -> Reading:
    return Reading(
        timestamp=T0 + timedelta(minutes=minutes),
        value=str(wh),
        measurand="Energy.Active.Import.Register",
        unit="Wh",
        context=context,
    )


def event(station, kind: str, seq: int, *readings: Reading, remote="TX-1", tag="RFID-1", **more):
    return transaction_event_record(
        TransactionEventInput(
            station_id=station.pk,
            remote_id=remote,
            seq_no=seq,
            event_type=kind,
            timestamp=T0 + timedelta(minutes=seq),
            connector_id=1,
            id_tag=tag,
            readings=list(readings),
            now=timezone.now(),
            raw={"seqNo": seq},
            **more,
        )
    )


def test_started_updated_ended_bill_the_tokens_owner_once(station):
    driver = funded_client("100.00")
    IdTagFactory(id_tag="RFID-1", client=driver)
    started = event(station, "Started", 0, register(1000, 0, "Transaction.Begin"))
    assert started.id_tag_status == "Accepted" and not started.replayed
    event(station, "Updated", 1, register(1800, 10))
    ended = event(station, "Ended", 2, register(2000, 20, "Transaction.End"), stop_reason="Local")
    tx = OcppTransaction.objects.get(remote_id="TX-1")
    assert (tx.meter_start, tx.meter_stop, tx.status, tx.last_seq_no) == (1000, 2000, "stopped", 2)
    session = ChargingSession.objects.get(transaction_id=tx.pk)
    assert session.status == "completed" and session.energy_wh == 1000
    # 1 kWh at 12 som + 0.50 som/min for the 2 min between Started and Ended + 5 som
    assert session.final_cost == Decimal("18.00")
    assert Wallet.objects.get(client=driver).balance == Decimal("82.00")
    assert ended.id_tag_status == "Accepted"


def test_an_event_already_applied_has_no_effect_and_the_same_answer(station):
    IdTagFactory(id_tag="RFID-1", client=funded_client("100.00"))
    event(station, "Started", 0, register(1000))
    event(station, "Updated", 1, register(1500, 5))
    samples = MeterSample.objects.count()
    again = event(station, "Updated", 1, register(9000, 6))  # resent after a reconnect
    old = event(station, "Started", 0, register(1000))
    tx = OcppTransaction.objects.get(remote_id="TX-1")
    assert again.replayed and old.replayed and old.transaction_id == tx.pk
    assert (tx.last_meter_wh, tx.last_seq_no) == (1500, 1)
    assert MeterSample.objects.count() == samples
    assert OcppTransaction.objects.count() == 1


def test_a_gap_in_the_numbers_is_applied_not_refused(station):
    event(station, "Started", 0, register(1000))
    event(station, "Updated", 4, register(1400, 4))  # 1..3 lost on the way
    tx = OcppTransaction.objects.get(remote_id="TX-1")
    assert (tx.last_meter_wh, tx.last_seq_no) == (1400, 4)


def test_a_start_without_a_register_takes_the_first_one_reported(station):
    event(station, "Started", 0)
    tx = OcppTransaction.objects.get(remote_id="TX-1")
    assert tx.meter_start_pending
    event(station, "Updated", 1, register(250_000, 1))
    event(station, "Updated", 2, register(251_000, 2))
    tx.refresh_from_db()
    assert (tx.meter_start, tx.meter_start_pending, tx.last_meter_wh) == (250_000, False, 251_000)
    assert tx.energy_wh == 1000


def test_an_end_without_a_register_ends_at_the_last_one(station):
    event(station, "Started", 0, register(1000))
    event(station, "Updated", 1, register(1700, 1))
    event(station, "Ended", 2, stop_reason="EVDisconnected")
    tx = OcppTransaction.objects.get(remote_id="TX-1")
    assert (tx.meter_stop, tx.status, tx.stop_reason) == (1700, "stopped", "EVDisconnected")


def test_a_transaction_whose_start_was_lost_is_taken_from_its_first_event(station):
    event(station, "Updated", 3, register(5000, 3), remote="TX-LATE")
    tx = OcppTransaction.objects.get(remote_id="TX-LATE")
    assert (tx.meter_start, tx.status, tx.last_seq_no) == (5000, "active", 3)


def test_an_unknown_token_is_refused_and_its_transaction_parked_for_review(station):
    started = event(station, "Started", 0, register(1000), tag="NOBODY")
    assert started.id_tag_status == "Invalid"
    event(station, "Ended", 1, register(1300, 10))
    tx = OcppTransaction.objects.get(remote_id="TX-1")
    assert tx.status == "stopped" and not ChargingSession.objects.exists()
    assert ParkedMessage.objects.filter(transaction_id=tx.pk).exists()


def test_the_same_remote_id_on_two_stations_is_two_transactions(station, make_station):
    other = make_station("CP-OTHER")
    event(station, "Started", 0, register(1000))
    event(other, "Started", 0, register(1000))
    assert OcppTransaction.objects.filter(remote_id="TX-1").count() == 2


def test_numbered_meter_reports_in_a_batch_apply_once_and_in_order(station):
    event(station, "Started", 0, register(1000))
    tx = OcppTransaction.objects.get(remote_id="TX-1")

    def report(seq, wh):
        return MeterValuesInput(
            station.pk, 1, tx.pk, [register(wh, seq)], timezone.now(), {"seqNo": seq}, seq_no=seq
        )

    # the batched path (the charger's Updated events once followed): 2 then 1 resent, 3
    meter_values_record_many([report(1, 1200), report(2, 1400), report(2, 9000), report(1, 9000)])
    meter_values_record_many([report(3, 1600)])
    tx.refresh_from_db()
    assert (tx.last_meter_wh, tx.last_seq_no) == (1600, 3)
    assert not MeterSample.objects.filter(value="9000").exists()


def test_the_charging_state_and_events_queued_offline_are_kept(station):
    IdTagFactory(id_tag="RFID-1", client=funded_client("100.00"))
    first = event(station, "Started", 0, register(1000, 0), charging_state="EVConnected")
    assert first.charging_state == "EVConnected"
    event(station, "Updated", 1, register(1100, 5), charging_state="Charging", offline=True)
    event(station, "Updated", 2, register(1200, 6), offline=True)  # no change reported
    event(station, "Updated", 2, register(1200, 6), offline=True)  # a replay: not counted
    tx = OcppTransaction.objects.get(remote_id="TX-1")
    assert (tx.charging_state, tx.offline_events) == ("Charging", 2)
    event(station, "Ended", 3, register(1300, 7), charging_state="Idle", stop_reason="PowerLoss")
    tx.refresh_from_db()
    assert (tx.charging_state, tx.stop_reason, tx.offline_events) == ("Idle", "PowerLoss", 2)
