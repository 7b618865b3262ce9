"""Writing the security-event log (evpower/models.py): the handshake, the charger edge and
the payment providers' callbacks all record through here."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from evpower.metrics.registry import payment_auth_failure_observed

from .models import SecurityEvent

PAYMENT_AUTH_FAILED = "PaymentAuthFailed"  # the kind payment callbacks record


def security_event_record(
    *,
    station_id: int | None,
    identity: str,
    kind: str,
    source: str = SecurityEvent.Source.PLATFORM,
    tech_info: str = "",
    occurred_at: datetime | None = None,
    remote_addr: str = "",
) -> SecurityEvent:
    if kind == PAYMENT_AUTH_FAILED:  # every provider's refused callback comes through here
        payment_auth_failure_observed(provider=identity[:20])
    return SecurityEvent.objects.create(
        station_id=station_id,
        identity=identity[:48],
        kind=kind[:50],
        source=source,
        tech_info=tech_info,
        remote_addr=remote_addr[:64],
        occurred_at=occurred_at or timezone.now(),
    )
