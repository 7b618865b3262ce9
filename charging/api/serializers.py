"""Shapes of the charging API: what the app sends to start, what it reads back."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from charging.session.follow import session_event
from charging.session.limits import Limit
from charging.session.models import ChargingSession
from stations.api.serializers import PriceSerializer
from stations.selectors import station_is_online

LimitType = ChargingSession.LimitType
MAX_ENERGY_KWH = Decimal("1000")
MAX_AMOUNT = Decimal("100000.00")


class LimitIn(serializers.Serializer):
    type = serializers.ChoiceField(choices=LimitType.choices)
    energy_kwh = serializers.DecimalField(
        max_digits=7,
        decimal_places=3,
        required=False,
        min_value=Decimal("0.001"),
        max_value=MAX_ENERGY_KWH,
    )
    amount = serializers.DecimalField(
        max_digits=8,
        decimal_places=2,
        required=False,
        min_value=Decimal("0.01"),
        max_value=MAX_AMOUNT,
    )

    def validate(self, attrs):
        kind = attrs["type"]
        needs = {
            "energy_kwh": kind in (LimitType.ENERGY, LimitType.BOTH),
            "amount": kind in (LimitType.AMOUNT, LimitType.BOTH),
        }
        errors = {}
        for field, needed in needs.items():
            if needed and field not in attrs:
                errors[field] = [f"required when the limit type is {kind}"]
            elif not needed and field in attrs:
                errors[field] = [f"not used when the limit type is {kind}"]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    @staticmethod
    def to_limit(data: dict) -> Limit:
        """Validated data → the services' Limit (kWh → Wh)."""
        energy = data.get("energy_kwh")
        return Limit(
            type=data["type"],
            energy_wh=None if energy is None else int(energy * 1000),
            amount=data.get("amount"),
        )


class StartIn(serializers.Serializer):
    station = serializers.IntegerField(min_value=1, help_text="station id (from the map)")
    connector = serializers.IntegerField(
        min_value=1, max_value=99, help_text="connector number on the station"
    )
    limit = LimitIn()


class TariffOut(PriceSerializer):
    """The tariff frozen onto the session (the map's price shape, plus the discount)."""

    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2)


class ReceiptLineOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["energy", "time", "session_fee", "idle", "discount"])
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class ReceiptOut(serializers.Serializer):
    lines = ReceiptLineOut(many=True)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    energy_wh = serializers.IntegerField(required=False)
    charging_seconds = serializers.IntegerField(required=False)
    idle_seconds = serializers.IntegerField(required=False)
    paid_from_hold = serializers.DecimalField(max_digits=12, decimal_places=2)
    paid_from_balance = serializers.DecimalField(max_digits=12, decimal_places=2)
    debt = serializers.DecimalField(max_digits=12, decimal_places=2)


class SessionOut(serializers.ModelSerializer):
    station = serializers.SerializerMethodField()
    connector = serializers.IntegerField(source="connector_number")
    limit = serializers.SerializerMethodField()
    tariff = serializers.SerializerMethodField()
    energy_kwh = serializers.SerializerMethodField()
    percent_of_limit = serializers.SerializerMethodField()
    duration_seconds = serializers.SerializerMethodField()
    station_online = serializers.SerializerMethodField()
    receipt = serializers.SerializerMethodField()
    started_at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = ChargingSession
        fields = (
            "id",
            "status",
            "origin",
            "station",
            "connector",
            "limit",
            "tariff",
            "hold_amount",
            "currency",
            "energy_wh",
            "energy_kwh",
            "power_w",
            "soc_percent",
            "cost",
            "percent_of_limit",
            "duration_seconds",
            "station_online",
            "started_at",
            "charging_started_at",
            "ended_at",
            "stop_reason",
            "final_cost",
            "receipt",
        )

    @extend_schema_field(serializers.DictField())
    def get_station(self, obj: ChargingSession) -> dict:
        station = obj.station
        location = station.location
        return {
            "id": station.pk,
            "identity": station.identity,
            "location": None if location is None else {"id": location.pk, "name": location.name},
        }

    @extend_schema_field(serializers.DictField())
    def get_limit(self, obj: ChargingSession) -> dict:
        return {
            "type": obj.limit_type,
            "energy_kwh": None
            if obj.limit_energy_wh is None
            else str(Decimal(obj.limit_energy_wh) / 1000),
            "amount": None if obj.limit_amount is None else str(obj.limit_amount),
        }

    @extend_schema_field(TariffOut)
    def get_tariff(self, obj: ChargingSession) -> dict:
        return TariffOut(obj.tariff).data

    def get_energy_kwh(self, obj: ChargingSession) -> str:
        return str((Decimal(obj.energy_wh) / 1000).quantize(Decimal("0.001")))

    def get_percent_of_limit(self, obj: ChargingSession) -> int | None:
        return session_event(obj)["percent_of_limit"]

    def get_duration_seconds(self, obj: ChargingSession) -> int:
        end = obj.ended_at or timezone.now()
        start = obj.charging_started_at or obj.created_at
        return max(int((end - start).total_seconds()), 0)

    def get_station_online(self, obj: ChargingSession) -> bool:
        return station_is_online(obj.station)

    @extend_schema_field(ReceiptOut(allow_null=True))
    def get_receipt(self, obj: ChargingSession) -> dict | None:
        return obj.receipt if obj.status == ChargingSession.Status.COMPLETED else None


class StatsTotalsOut(serializers.Serializer):
    sessions = serializers.IntegerField()
    energy_wh = serializers.IntegerField()
    spent = serializers.DecimalField(max_digits=14, decimal_places=2)


class StatsOut(serializers.Serializer):
    all_time = StatsTotalsOut()
    this_month = StatsTotalsOut()
    month_started_at = serializers.DateTimeField()
