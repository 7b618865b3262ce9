"""Shared helpers of the stations tests (tariffs and connectors made directly). One home
for them: test modules import from here, never from each other."""

from __future__ import annotations

from decimal import Decimal

from stations.station_models import Connector, Station
from stations.tariff_models import TariffPlan, TariffRule

from .factories import TariffPlanFactory, TariffRuleFactory


def make_connector(
    location, *, identity="CP-1", number=1, connector_type="Type2", power=None, station_power=None
) -> Connector:
    station, _ = Station.objects.get_or_create(
        identity=identity, defaults={"location": location, "max_power_kw": station_power}
    )
    return Connector.objects.create(
        station=station, number=number, connector_type=connector_type, max_power_kw=power
    )


def plan(name="Plan", *, default=False, **kwargs) -> TariffPlan:
    return TariffPlanFactory(name=name, is_default=default, **kwargs)


def rule(tariff_plan, per_kwh="10.00", **kwargs) -> TariffRule:
    return TariffRuleFactory(plan=tariff_plan, price_per_kwh=Decimal(per_kwh), **kwargs)
