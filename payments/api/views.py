"""The client's own wallet and ledger. Every query is scoped to request.user."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import selectors

from .serializers import LedgerEntryOut, WalletOut


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
