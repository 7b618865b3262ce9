"""Writing the security-event log (evpower/models.py): the handshake, the charger edge and
the payment providers' callbacks all record through here.

A burst raises an operator alert: SECURITY_ALERT_BURST events of an alerting kind from one
identity (a charger id, a payment provider) or one address within
SECURITY_ALERT_WINDOW_SECONDS — someone guessing a charger's password, or forging payment
callbacks. One alert per identity or address and kind per ALERT_MIN_INTERVAL_SECONDS."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from evpower.alerts import operator_alert_after_commit
from evpower.metrics.registry import payment_auth_failure_observed

from .models import SecurityEvent

PAYMENT_AUTH_FAILED = "PaymentAuthFailed"  # the kind payment callbacks record
CONNECTION_REFUSED = "ConnectionRefused"  # the kind the charger handshake records
# kinds whose bursts alert operators -> what the alert calls them
ALERTING_KINDS = {
    CONNECTION_REFUSED: "charger connections refused (wrong or missing credentials)",
    PAYMENT_AUTH_FAILED: "payment callbacks that failed verification",
}


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
    event = SecurityEvent.objects.create(
        station_id=station_id,
        identity=identity[:48],
        kind=kind[:50],
        source=source,
        tech_info=tech_info,
        remote_addr=remote_addr[:64],
        occurred_at=occurred_at or timezone.now(),
    )
    if kind in ALERTING_KINDS and source == SecurityEvent.Source.PLATFORM:
        _alert_on_burst(event)
    return event


def _alert_on_burst(event: SecurityEvent) -> None:
    burst = settings.SECURITY_ALERT_BURST
    since = timezone.now() - timedelta(seconds=settings.SECURITY_ALERT_WINDOW_SECONDS)
    recent = SecurityEvent.objects.filter(kind=event.kind, created_at__gte=since)
    for field, value in (("identity", event.identity), ("remote_addr", event.remote_addr)):
        if not value:
            continue
        # bounded: counts at most `burst` rows however large the flood
        if recent.filter(**{field: value})[:burst].count() < burst:
            continue
        who = "identity" if field == "identity" else "address"
        operator_alert_after_commit(
            key=f"security:{event.kind}:{field}:{value}",
            subject=f"Security: {burst}+ {ALERTING_KINDS[event.kind]} from {who} {value}",
            text=(
                f"{burst} or more {event.kind} events from {who} {value} within "
                f"{settings.SECURITY_ALERT_WINDOW_SECONDS} s; the latest: {event.tech_info}.\n"
                "See Security events in the admin."
            ),
            severity="high",
            source="security",
        )
