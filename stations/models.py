"""The stations app's models, one place for Django to find them: locations, stations,
connectors, id tags, reservations, local lists and charging profiles (station_models.py),
and tariffs (tariff_models.py). Code inside the app imports the module that defines a
model; code outside may import it from here."""

from .station_models import (  # noqa: F401
    IDENTITY_PATTERN,
    ChargingProfile,
    ChargingProfileAssignment,
    Connector,
    IdTag,
    LocalListState,
    Location,
    Reservation,
    Station,
)
from .tariff_models import (  # noqa: F401
    ClientTariff,
    Currency,
    PromoCode,
    PromoRedemption,
    TariffAssignment,
    TariffPlan,
    TariffRule,
)
