from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from payments.models import LedgerTransaction, Payment


class WalletOut(serializers.Serializer):
    balance = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="everything in the wallet, held included"
    )
    held = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="reserved for running sessions"
    )
    available = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="balance − held: what can be spent"
    )
    debt = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="unpaid overrun; the next top-up settles it"
    )
    currency = serializers.CharField()


class LedgerEntryOut(serializers.ModelSerializer):
    ref = serializers.SerializerMethodField()
    balance_change = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        read_only=True,
        help_text="change of the balance (held included)",
    )
    available_change = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = LedgerTransaction
        fields = [
            "id",
            "kind",
            "amount",
            "currency",
            "balance_change",
            "available_change",
            "balance_after",
            "held_after",
            "ref",
            "created_at",
        ]

    def get_ref(self, obj) -> dict | None:
        return {"type": obj.ref_type, "id": obj.ref_id} if obj.ref_type else None


class TopupIn(serializers.Serializer):
    provider = serializers.ChoiceField(choices=["odengi", "obank", "payme", "click"])
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"))


class PaymentOut(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = [
            "id",
            "provider",
            "order_id",
            "amount",
            "currency",
            "status",
            "checkout",
            "expires_at",
            "paid_at",
            "cancelled_at",
            "created_at",
        ]
