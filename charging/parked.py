"""Parking a charger message: answered normally, kept for an operator to decide, and
resolving it. Chargers drop messages answered with an error, so these are never refused."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from evpower.alerts import alerts_configured, operator_alert_after_commit
from stations.models import Station

from .parked_models import ParkedMessage

log = logging.getLogger("charging")

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def _jsonable(payload: Any) -> dict:
    """Park payloads are parsed messages (dicts or protocol dataclasses holding datetimes);
    stored as JSON with those values as text."""
    if is_dataclass(payload) and not isinstance(payload, type):
        payload = asdict(payload)
    return json.loads(json.dumps(payload, default=str))


def parked(
    *,
    station_id: int | None,
    action: str,
    reason: str,
    payload: Any,
    detail: str = "",
    transaction_id: int | None = None,
) -> ParkedMessage:
    """An unsaved parked message (batch writers save many at once)."""
    if transaction_id is not None and not -(2**31) <= transaction_id < 2**31:
        # a charger's id beyond our column's range is none of ours: kept in the detail
        detail, transaction_id = f"transactionId {transaction_id}: {detail}", None
    return ParkedMessage(
        station_id=station_id,
        action=action,
        reason=reason,
        detail=detail[:300],
        transaction_id=transaction_id,
        payload=_jsonable(payload),
    )


def park_message(**kwargs) -> ParkedMessage:
    message = parked(**kwargs)
    message.save()
    alert_parked_message(message)  # operators, after the commit, rate limited
    return message


@transaction.atomic
def parked_message_resolve(
    *, message: ParkedMessage, user: AbstractBaseUser | None, note: str = ""
) -> bool:
    """Mark a parked message resolved. Idempotent: one already resolved (maybe by another
    operator a moment ago) keeps its first resolution. Returns whether this call resolved it."""
    now = timezone.now()
    resolved = ParkedMessage.objects.filter(pk=message.pk, resolved_at__isnull=True).update(
        resolved_at=now, resolved_by=user, resolution_note=note[:300]
    )
    if resolved:
        message.resolved_at, message.resolved_by, message.resolution_note = now, user, note[:300]
    return bool(resolved)


def alert_parked_message(message) -> None:
    """A charger's message waits for a person (an unbilled transaction, a stop after
    settlement...). One alert per station and reason per interval."""
    try:
        if not alerts_configured():  # on the charger's path: no query for nothing
            return
        identity = (
            Station.objects.filter(pk=message.station_id).values_list("identity", flat=True).first()
            or f"#{message.station_id}"
        )
        operator_alert_after_commit(
            key=f"parked:{message.station_id}:{message.reason}",
            subject=f"Parked {message.action} at station {identity}: {message.reason}",
            text=f"A {message.action} from station {identity} was parked for review "
            f"({message.reason}), transaction {message.transaction_id or '-'}: "
            f"{message.detail or '-'}\nSee Parked messages in the admin.",
            severity="medium",  # money waits for a decision; nothing is lost
        )
    except Exception:
        log.exception("parked message alert failed")
