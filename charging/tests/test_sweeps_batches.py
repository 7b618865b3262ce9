"""A sweep goes past a session it cannot handle (logged and counted), never stops at it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from charging.session import sweeps
from charging.session.models import ChargingSession
from charging.tests.support import funded_client
from evpower.metrics.registry import BATCH_ROW_FAILURES

from .support import charging_session, fresh

pytestmark = pytest.mark.django_db


def test_the_unreported_stop_sweep_goes_past_a_failing_session(station, monkeypatch):
    at = timezone.now() - timedelta(hours=2)
    first, _ = charging_session(funded_client(), station, at=at, connector=1)
    second, _ = charging_session(funded_client(), station, at=at, connector=2)
    long_ago = timezone.now() - timedelta(hours=1)
    ChargingSession.objects.filter(pk__in=[first.pk, second.pk]).update(
        status=ChargingSession.Status.FINISHING, stop_requested_at=long_ago
    )
    real = sweeps.session_close_unreported

    def broken_for_the_first(*, session_id, **kwargs):
        if session_id == first.pk:
            raise RuntimeError("a row nobody foresaw")
        return real(session_id=session_id, **kwargs)

    monkeypatch.setattr(sweeps, "session_close_unreported", broken_for_the_first)
    failures = BATCH_ROW_FAILURES.labels("charging.sessions_close_unreported")._value.get()

    assert sweeps.sessions_close_unreported() == 1
    assert fresh(second).settled and not fresh(first).settled
    assert (
        BATCH_ROW_FAILURES.labels("charging.sessions_close_unreported")._value.get() == failures + 1
    )
