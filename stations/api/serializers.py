"""Input (query parameters) and output shapes of the map API."""

from __future__ import annotations

import math

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from stations.station_models import Connector

from ..selectors_map import AVAILABILITIES, MapQuery

_TYPES_BY_LOWER = {t.lower(): t for t in Connector.Type.values}


class MapQuerySerializer(serializers.Serializer):
    lat = serializers.FloatField(
        required=False,
        min_value=-90,
        max_value=90,
        help_text="Latitude of the point to search around.",
    )
    lon = serializers.FloatField(
        required=False,
        min_value=-180,
        max_value=180,
        help_text="Longitude of the point to search around.",
    )
    radius_km = serializers.FloatField(
        required=False,
        min_value=0.01,
        max_value=1000,
        help_text="Only locations within this distance of (lat, lon); needs lat and lon. "
        "Without it, all locations nearest first.",
    )
    connector_type = serializers.CharField(
        required=False,
        help_text="One or more (comma-separated) of: " + ", ".join(Connector.Type.values),
    )
    min_power_kw = serializers.DecimalField(
        required=False, max_digits=7, decimal_places=2, min_value=0
    )
    available_now = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Only locations with a matching connector available right now.",
    )

    def _finite(self, value: float) -> float:
        if not math.isfinite(value):
            raise serializers.ValidationError("A valid number is required.")
        return value

    validate_lat = validate_lon = validate_radius_km = _finite

    def validate_connector_type(self, value: str) -> list[str]:
        wanted = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [t for t in wanted if t.lower() not in _TYPES_BY_LOWER]
        if unknown or not wanted:
            raise serializers.ValidationError(
                "Unknown connector type. Use: " + ", ".join(Connector.Type.values)
            )
        return [_TYPES_BY_LOWER[t.lower()] for t in wanted]

    def validate(self, attrs: dict) -> dict:
        has_lat, has_lon = "lat" in attrs, "lon" in attrs
        if has_lat != has_lon:
            missing = "lon" if has_lat else "lat"
            raise serializers.ValidationError({missing: ["Give lat and lon together."]})
        if "radius_km" in attrs and not has_lat:
            raise serializers.ValidationError({"radius_km": ["Needs lat and lon."]})
        return attrs

    def to_query(self) -> MapQuery:
        data = self.validated_data
        return MapQuery(
            lat=data.get("lat"),
            lon=data.get("lon"),
            radius_km=data.get("radius_km"),
            connector_types=tuple(data.get("connector_type") or ()),
            min_power_kw=data.get("min_power_kw"),
            available_now=data.get("available_now", False),
        )


class PriceSerializer(serializers.Serializer):
    """The tariff in force now (`stations.pricing.Quote`). Amounts in `currency`."""

    currency = serializers.CharField()
    per_kwh = serializers.DecimalField(max_digits=12, decimal_places=2)
    per_minute = serializers.DecimalField(max_digits=12, decimal_places=2)
    session_fee = serializers.DecimalField(max_digits=12, decimal_places=2)
    idle_fee_per_minute = serializers.DecimalField(max_digits=12, decimal_places=2)
    idle_grace_minutes = serializers.IntegerField()
    plan = serializers.CharField(source="plan_name")
    rule = serializers.CharField(source="rule_name")


class YourPriceSerializer(PriceSerializer):
    """The price for the authenticated client (`stations.pricing.quote_for_client`): the
    plan price with their fixed rates and their one biggest discount applied."""

    discount_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, help_text="Off the whole bill."
    )
    discount_source = serializers.CharField(help_text='"client_tariff", "promo" or "".')
    promo_code = serializers.CharField(help_text="The promo whose discount applies, if any.")
    fixed_rate = serializers.SerializerMethodField(
        help_text="true: a client rate replaces the plan's per-kWh and/or per-minute rate."
    )

    def get_fixed_rate(self, quote) -> bool:
        return quote.fixed_tariff_id is not None


class ConnectorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    connector_type = serializers.CharField()
    max_power_kw = serializers.DecimalField(
        max_digits=7, decimal_places=2, allow_null=True, source="effective_power_kw"
    )
    availability = serializers.ChoiceField(choices=AVAILABILITIES)
    status = serializers.CharField(help_text="The charger's OCPP status.")
    error_code = serializers.CharField()
    status_at = serializers.DateTimeField(allow_null=True)
    price = PriceSerializer(allow_null=True, help_text="null: not for sale now (no tariff).")
    your_price = YourPriceSerializer(
        allow_null=True,
        required=False,
        help_text="Only with a valid client token: what YOU pay now (null: not for sale).",
    )

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not hasattr(instance, "your_price"):
            data.pop("your_price", None)
        return data


class StationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    identity = serializers.CharField(help_text="The charger's id (printed on it).")
    location_id = serializers.IntegerField(allow_null=True)
    vendor = serializers.CharField()
    model = serializers.CharField()
    max_power_kw = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)
    online = serializers.BooleanField()
    in_service = serializers.BooleanField(
        help_text="false: under maintenance or reported Faulted/Unavailable as a whole."
    )
    status = serializers.CharField(
        help_text="OCPP status of the station as a whole (connectorId 0), if it reported one."
    )
    connectors = ConnectorSerializer(many=True, source="map_connectors")


class _StationCounts(serializers.Serializer):
    total = serializers.IntegerField()
    online = serializers.IntegerField()
    offline = serializers.IntegerField()


class _ConnectorCounts(serializers.Serializer):
    total = serializers.IntegerField()
    available = serializers.IntegerField()
    occupied = serializers.IntegerField()
    faulted = serializers.IntegerField(help_text="Online but out of service.")
    offline = serializers.IntegerField(help_text="Station offline or no status reported.")


class SummarySerializer(serializers.Serializer):
    stations = _StationCounts()
    connectors = _ConnectorCounts()
    connector_types = serializers.ListField(child=serializers.CharField())
    max_power_kw = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)


class LocationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    address = serializers.CharField()
    city = serializers.CharField()
    latitude = serializers.FloatField(allow_null=True)
    longitude = serializers.FloatField(allow_null=True)
    time_zone = serializers.CharField()
    status = serializers.CharField()
    opening_hours = serializers.CharField()
    distance_km = serializers.SerializerMethodField()
    summary = SummarySerializer(help_text="Live; at most 30 s old.")

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_distance_km(self, location) -> float | None:
        distance = getattr(location, "distance_km", None)
        return None if distance is None else round(distance, 3)


class LocationDetailSerializer(LocationSerializer):
    summary = SummarySerializer()
    stations = StationSerializer(many=True, source="map_stations")


class PromoRedeemIn(serializers.Serializer):
    code = serializers.CharField(max_length=32, trim_whitespace=True)


class PromoRedemptionOut(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(source="code.code")
    discount_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, source="code.discount_percent"
    )
    redeemed_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text="The discount applies to sessions started before this (null: open-ended).",
    )
    in_force = serializers.SerializerMethodField()

    def get_in_force(self, redemption) -> bool:
        now = self.context.get("now")
        return bool(
            now
            and redemption.code.active
            and redemption.redeemed_at <= now
            and (redemption.expires_at is None or now < redemption.expires_at)
        )
