"""Promo codes: redeeming one, and which redemptions are in force.

How a redeemed code applies (the rule `stations.pricing.quote_for_client` uses):
- A redemption gives the code's discount percent to sessions STARTED (quoted) within its
  benefit window [redeemed_at, expires_at). expires_at is fixed at redemption:
  redeemed_at + code.benefit_days, never past code.valid_to; empty when the code has
  neither (open-ended).
- The code's `active` flag is a kill switch: switching it off stops new redemptions AND
  the benefit of earlier ones (a leaked code can be stopped at once).
- Discounts never stack: the quote takes the single biggest percent among the client's
  discount tariffs and promo redemptions in force (see `stations.pricing`).
- Nothing is "consumed" by a session: the window is the benefit. The session freezes the
  quote (with the redemption id in its snapshot), so a later change never re-prices it.

Redeeming (`promo_redeem`), under a row lock on the code, which serialises every
redemption of that code (so total and per-client counts cannot be overrun by concurrent
requests):
- unknown code or inactive → PROMO_NOT_FOUND (404);
- before valid_from or from valid_to on → PROMO_EXPIRED (409);
- the client already holds a redemption of this code still in force → that redemption is
  returned again (`created` False): calling twice (a double tap, a retry) is safe and
  never burns a second use;
- the client has used it max_per_client times → PROMO_ALREADY_USED (409);
- max_redemptions reached → PROMO_EXHAUSTED (409).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework import status

from accounts.models import Client
from evpower.api.errors import ApiError

from .tariff_models import PromoCode, PromoRedemption

MAX_CODE_LENGTH = 32


def normalise_code(code: str) -> str:
    return (code or "").strip().upper()


def _in_force_q(at: datetime, prefix: str = "") -> Q:
    return (
        Q(**{f"{prefix}redeemed_at__lte": at})
        & (Q(**{f"{prefix}expires_at__isnull": True}) | Q(**{f"{prefix}expires_at__gt": at}))
        & Q(**{f"{prefix}code__active": True})
    )


def redemptions_in_force(*, client: Client | int, at: datetime) -> QuerySet[PromoRedemption]:
    """The client's redemptions whose benefit applies at `at` (code still active)."""
    client_id = client if isinstance(client, int) else client.pk
    return PromoRedemption.objects.filter(_in_force_q(at), client_id=client_id).select_related(
        "code"
    )


def redemptions_of(*, client: Client) -> QuerySet[PromoRedemption]:
    return PromoRedemption.objects.filter(client=client).select_related("code")


def _expiry(code: PromoCode, now: datetime) -> datetime | None:
    ends = [
        e
        for e in (
            code.valid_to,
            now + timedelta(days=code.benefit_days) if code.benefit_days else None,
        )
        if e is not None
    ]
    return min(ends) if ends else None


def promo_redeem(*, client: Client, code: str, now: datetime | None = None) -> PromoRedemption:
    """Redeem `code` for `client` (rules in the module docstring). The returned
    redemption carries `created` (False when an in-force one was returned again)."""
    wanted = normalise_code(code)
    if not wanted or len(wanted) > MAX_CODE_LENGTH:
        raise ApiError("PROMO_NOT_FOUND", status_code=status.HTTP_404_NOT_FOUND)
    with transaction.atomic():
        promo = (
            PromoCode.objects.select_for_update().filter(code__iexact=wanted, active=True).first()
        )
        if promo is None:
            raise ApiError("PROMO_NOT_FOUND", status_code=status.HTTP_404_NOT_FOUND)
        # read the clock only once the lock is held: a request that waited for it must not
        # look "before" the redemption the lock holder just made
        now = now or timezone.now()
        if (promo.valid_from is not None and now < promo.valid_from) or (
            promo.valid_to is not None and now >= promo.valid_to
        ):
            raise ApiError(
                "PROMO_EXPIRED", status_code=status.HTTP_409_CONFLICT, details={"code": promo.code}
            )
        mine = PromoRedemption.objects.filter(code=promo, client=client)
        current = mine.filter(_in_force_q(now)).order_by("-redeemed_at", "-id").first()
        if current is not None:
            current.created = False
            return current
        if mine.count() >= promo.max_per_client:
            raise ApiError(
                "PROMO_ALREADY_USED",
                status_code=status.HTTP_409_CONFLICT,
                details={"code": promo.code},
            )
        if promo.max_redemptions is not None and promo.redemptions.count() >= promo.max_redemptions:
            raise ApiError(
                "PROMO_EXHAUSTED",
                status_code=status.HTTP_409_CONFLICT,
                details={"code": promo.code},
            )
        redemption = PromoRedemption.objects.create(
            client=client, code=promo, redeemed_at=now, expires_at=_expiry(promo, now)
        )
    redemption.created = True
    return redemption
