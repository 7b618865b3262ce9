"""Writes on clients: profile, deletion and anonymisation, blocking, favourites, devices.

Login and tokens live in `otp.py` and `tokens.py`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import status

from evpower.batch import each_row

from .errors import ApiError
from .models import Client, ClientStatusChange, Device, Favourite, LoginSession, OtpCode
from .tokens import client_sessions_revoke

logger = logging.getLogger(__name__)

Reason = LoginSession.RevokeReason


def client_update_profile(*, client: Client, **fields) -> Client:
    allowed = {"name", "email", "language"}
    changes = {key: value for key, value in fields.items() if key in allowed}
    for key, value in changes.items():
        setattr(client, key, value)
    if changes:
        client.save(update_fields=list(changes))
    return client


@transaction.atomic
def client_request_deletion(*, client_id: int, now: datetime | None = None) -> Client:
    """Start the grace period; the client is logged out everywhere (idempotent). Refused
    (409 SESSION_ACTIVE) while a charging session runs: logged out, the driver could no
    longer stop or follow it. Stopping it first is the driver's decision, and its bill."""
    client = Client.objects.select_for_update().get(pk=client_id)
    session_model = apps.get_model("charging", "ChargingSession")  # charging depends on us
    running = list(
        session_model.objects.filter(
            client_id=client.pk, status__in=session_model.ACTIVE_STATUSES
        ).values_list("pk", flat=True)
    )
    if running and client.status == Client.Status.ACTIVE:
        raise ApiError(
            "SESSION_ACTIVE", status_code=status.HTTP_409_CONFLICT, details={"sessions": running}
        )
    if client.status == Client.Status.ACTIVE:
        client.status = Client.Status.PENDING_DELETION
        client.deletion_requested_at = now or timezone.now()
        client.save(update_fields=["status", "deletion_requested_at"])
    client_sessions_revoke(client_id=client.pk, reason=Reason.DELETION)
    return client


def _status_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ApiError("REASON_REQUIRED")
    return reason[:300]


def _record_status_change(client: Client, *, before: str, reason: str, by: str, author) -> None:
    ClientStatusChange.objects.create(
        client=client,
        status_before=before,
        status=client.status,
        reason=reason,
        by=(by or "system")[:150],
        author=author,
    )


@transaction.atomic
def client_block(*, client_id: int, reason: str, by: str = "", author=None) -> Client:
    """Block and revoke every session: the client's tokens stop working at once. The reason
    (mandatory) is kept with who did it (`by`, and `author` when a staff user did)."""
    reason = _status_reason(reason)
    client = Client.objects.select_for_update().get(pk=client_id)
    if client.status == Client.Status.DELETED:
        raise ApiError("CLIENT_DELETED")
    before = client.status
    client.status = Client.Status.BLOCKED
    client.save(update_fields=["status"])
    client_sessions_revoke(client_id=client.pk, reason=Reason.BLOCKED)
    _record_status_change(client, before=before, reason=reason, by=by, author=author)
    logger.info("client %s blocked by %s: %s", client.pk, by or "system", reason)
    return client


@transaction.atomic
def client_unblock(*, client_id: int, reason: str, by: str = "", author=None) -> Client:
    """Back to active; also cancels a pending deletion (support restoring an account).
    The reason is kept as for a block."""
    reason = _status_reason(reason)
    client = Client.objects.select_for_update().get(pk=client_id)
    if client.status == Client.Status.DELETED:
        raise ApiError("CLIENT_DELETED")
    before = client.status
    client.status, client.deletion_requested_at = Client.Status.ACTIVE, None
    client.save(update_fields=["status", "deletion_requested_at"])
    _record_status_change(client, before=before, reason=reason, by=by, author=author)
    logger.info("client %s unblocked by %s: %s", client.pk, by or "system", reason)
    return client


@transaction.atomic
def client_anonymise(*, client_id: int, now: datetime | None = None) -> bool:
    """Wipe a client's personal data, keep the row (the ledger and sessions history point
    at it). Returns False when the client is not pending deletion any more."""
    client = Client.objects.select_for_update().get(pk=client_id)
    if client.status != Client.Status.PENDING_DELETION:
        return False
    phone = client.phone
    client.phone = f"deleted:{client.pk}"  # unique by id; frees the number for a new sign-up
    client.name, client.email = "", ""
    client.status, client.anonymised_at = Client.Status.DELETED, now or timezone.now()
    client.save(update_fields=["phone", "name", "email", "status", "anonymised_at"])
    # Login sessions hold IP addresses and user agents; devices and codes identify the phone;
    # the reasons staff typed for blocking may name the person.
    client.login_sessions.all().delete()
    client.status_changes.all().delete()
    client.devices.all().delete()
    client.favourites.all().delete()
    OtpCode.objects.filter(phone=phone).delete()
    return True


def clients_due_for_anonymisation(*, now: datetime) -> list[int]:
    cutoff = now - timedelta(days=settings.ACCOUNT_DELETION_GRACE_DAYS)
    return list(
        Client.objects.filter(
            status=Client.Status.PENDING_DELETION, deletion_requested_at__lte=cutoff
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def accounts_anonymise_due(*, now: datetime | None = None) -> list[int]:
    """Anonymise every client past the grace period; safe to run twice at once (each client
    is re-checked under its row lock)."""
    now = now or timezone.now()
    results, _ = each_row(
        clients_due_for_anonymisation(now=now),
        lambda pk: pk if client_anonymise(client_id=pk, now=now) else None,
        job="accounts.anonymise_due",
    )
    done = [pk for pk in results if pk is not None]
    if done:
        logger.info("anonymised %d clients", len(done))
    return done


@dataclass(frozen=True)
class Saved:
    obj: object
    created: bool


def favourite_add(*, client: Client, location_id: int) -> Saved:
    favourite, created = Favourite.objects.get_or_create(client=client, location_id=location_id)
    return Saved(favourite, created)


def favourite_remove(*, client: Client, location_id: int) -> None:
    deleted, _ = Favourite.objects.filter(client=client, location_id=location_id).delete()
    if not deleted:
        raise ApiError("NOT_FOUND", status_code=404)


@transaction.atomic
def device_register(
    *, client: Client, kind: str, token: str, subscription: dict | None = None
) -> Saved:
    """Upsert by token: a device that changes hands follows whoever registered it last."""
    device, created = Device.objects.update_or_create(
        token=token, defaults={"client": client, "kind": kind, "subscription": subscription}
    )
    return Saved(device, created)


def device_remove(*, client: Client, device_id: int) -> None:
    deleted, _ = Device.objects.filter(client=client, pk=device_id).delete()
    if not deleted:
        raise ApiError("NOT_FOUND", status_code=404)
