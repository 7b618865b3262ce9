"""The transaction and meter sample admin: read-only facts, newest samples first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from charging.admin import SAMPLES_SHOWN
from charging.metering import ENERGY_REGISTER
from charging.transaction_models import MeterSample, OcppTransaction
from stations.services import station_create

pytestmark = pytest.mark.django_db


def make_transaction(samples: int) -> OcppTransaction:
    station = station_create(identity="CP-1", location_name="Depot", generate_password=True).station
    start = timezone.now() - timedelta(hours=1)
    tx = OcppTransaction.objects.create(
        station=station,
        connector_number=1,
        id_tag="TAG-1",
        id_tag_status="Accepted",
        meter_start=1000,
        last_meter_wh=1000 + samples,
        started_at=start,
    )
    MeterSample.objects.bulk_create(
        MeterSample(
            station=station,
            connector_number=1,
            transaction=tx,
            timestamp=start + timedelta(seconds=n),
            measurand=ENERGY_REGISTER,
            context="Sample.Periodic",
            unit="Wh",
            value=str(1000 + n),
        )
        for n in range(samples)
    )
    return tx


def test_transaction_page_shows_the_newest_samples_only(admin_client):
    # given
    tx = make_transaction(samples=SAMPLES_SHOWN + 50)

    # when
    response = admin_client.get(reverse("admin:charging_ocpptransaction_change", args=[tx.pk]))

    # then
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    values = [form.instance.value for form in formset.forms]
    assert len(values) == SAMPLES_SHOWN
    assert values[0] == str(1000 + SAMPLES_SHOWN + 49)  # newest first
    assert "Energy (Wh)" in response.content.decode()


def test_transactions_and_samples_are_read_only(admin_client):
    tx = make_transaction(samples=3)

    changelist = admin_client.get(reverse("admin:charging_ocpptransaction_changelist"))
    samples = admin_client.get(
        reverse("admin:charging_metersample_changelist"), {"measurand": ENERGY_REGISTER}
    )

    assert changelist.context["cl"].result_list[0].energy_wh == 3
    assert len(samples.context["cl"].result_list) == 3
    assert admin_client.get(reverse("admin:charging_ocpptransaction_add")).status_code == 403
    change = reverse("admin:charging_ocpptransaction_change", args=[tx.pk])
    assert admin_client.post(change, {"meter_start": "0"}).status_code == 403
