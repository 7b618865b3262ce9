"""The client's own wallet and ledger. Every query is scoped to request.user."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from evpower.api.throttling import MONEY, MoneyRateThrottle
from evpower.compression import HoldsSecretMixin
from payments import selectors, topups
from payments.errors import PaymentNotFound
from payments.idempotency import idempotent

from .serializers import LedgerEntryOut, PaymentOut, TopupIn, WalletOut


class WalletView(APIView):
    @extend_schema(responses=WalletOut, tags=["wallet"], summary="Balance, held and available")
    def get(self, request):
        return Response(WalletOut(selectors.wallet_summary(client=request.user)).data)


class WalletTransactionsView(ListAPIView):
    serializer_class = LedgerEntryOut

    def get_queryset(self):
        return selectors.ledger_history(client=self.request.user)

    @extend_schema(tags=["wallet"], summary="Ledger history, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class TopupsView(HoldsSecretMixin, ListAPIView):  # checkout links: never compressed
    serializer_class = PaymentOut

    def get_queryset(self):
        return selectors.payments_of(client=self.request.user)

    def get_throttles(self):
        # the stricter money limit is for creating a top-up, not for reading the list
        throttles = super().get_throttles()
        return [*throttles, MoneyRateThrottle()] if self.request.method == "POST" else throttles

    @extend_schema(tags=["wallet"], summary="The client's top-ups, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=TopupIn,
        responses={201: PaymentOut},
        tags=["wallet"],
        summary="Top up: a payment with the QR / deep link / payment page to show "
        "(Idempotency-Key recommended). Errors: PROVIDER_NOT_AVAILABLE, "
        "TOPUP_AMOUNT_OUT_OF_RANGE, PAYMENT_PROVIDER_ERROR (502), "
        "CLIENT_BLOCKED, ACCOUNT_PENDING_DELETION",
    )
    @idempotent
    def post(self, request):
        data = TopupIn(data=request.data)
        data.is_valid(raise_exception=True)
        payment = topups.topup_create(client=request.user, **data.validated_data)
        return Response(PaymentOut(payment).data, status=status.HTTP_201_CREATED)


class TopupView(HoldsSecretMixin, APIView):
    @extend_schema(responses=PaymentOut, tags=["wallet"], summary="One top-up and its status")
    def get(self, request, payment_id: int):
        payment = selectors.payment_of(client=request.user, payment_id=payment_id)
        if payment is None:
            raise PaymentNotFound(payment_id)
        return Response(PaymentOut(payment).data)


class TopupCancelView(APIView):
    throttle_scope = MONEY

    @extend_schema(
        request=None,
        responses=PaymentOut,
        tags=["wallet"],
        summary="Cancel a top-up that is not paid yet (one found paid is credited "
        "instead). Errors: NOT_FOUND, PAYMENT_NOT_OPEN",
    )
    @idempotent
    def post(self, request, payment_id: int):
        payment = topups.topup_cancel(client=request.user, payment_id=payment_id)
        return Response(PaymentOut(payment).data)
