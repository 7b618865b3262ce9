"""The client's promo codes: redeem one, list own redemptions (scoped to request.user)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from .. import promos
from .serializers import PromoRedeemIn, PromoRedemptionOut


class MyPromoCodesView(ListAPIView):
    serializer_class = PromoRedemptionOut

    def get_queryset(self):
        return promos.redemptions_of(client=self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(tags=["promo codes"], summary="My redeemed promo codes, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=PromoRedeemIn,
        responses={201: PromoRedemptionOut, 200: PromoRedemptionOut},
        tags=["promo codes"],
        summary="Redeem a promo code (201; 200 when already redeemed and in force). "
        "Errors: PROMO_NOT_FOUND, PROMO_EXPIRED, PROMO_EXHAUSTED, "
        "PROMO_ALREADY_USED",
    )
    def post(self, request):
        data = PromoRedeemIn(data=request.data)
        data.is_valid(raise_exception=True)
        redemption = promos.promo_redeem(client=request.user, code=data.validated_data["code"])
        out = PromoRedemptionOut(redemption, context={"now": timezone.now()}).data
        return Response(
            out, status=status.HTTP_201_CREATED if redemption.created else status.HTTP_200_OK
        )
