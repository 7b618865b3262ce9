"""factory_boy factories of stations' models. Plain rows: a station made here has no
password and no connectors (the root conftest's `make_station` makes one through
`stations.services.station_create`, as operators do)."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from stations.station_models import Connector, IdTag, Location, Station
from stations.tariff_models import TariffPlan, TariffRule


class LocationFactory(DjangoModelFactory):
    class Meta:
        model = Location

    name = factory.Sequence(lambda n: f"Site {n}")


class StationFactory(DjangoModelFactory):
    class Meta:
        model = Station

    identity = factory.Sequence(lambda n: f"CP-F{n}")
    location = factory.SubFactory(LocationFactory)


class ConnectorFactory(DjangoModelFactory):
    class Meta:
        model = Connector

    station = factory.SubFactory(StationFactory)
    number = 1
    connector_type = "Type2"


class IdTagFactory(DjangoModelFactory):
    class Meta:
        model = IdTag

    id_tag = factory.Sequence(lambda n: f"TAG{n:06d}")


class TariffPlanFactory(DjangoModelFactory):
    class Meta:
        model = TariffPlan

    name = factory.Sequence(lambda n: f"Plan {n}")


class TariffRuleFactory(DjangoModelFactory):
    class Meta:
        model = TariffRule

    plan = factory.SubFactory(TariffPlanFactory)
