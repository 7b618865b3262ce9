"""The stations app's models, one place for Django to find them: locations, stations,
connectors, id tags, reservations, local lists and charging profiles (station_models.py),
tariffs (tariff_models.py) and OCPP 2.0.1 device models (device_model_models.py). Code
inside the app imports the module that defines a model; code outside may import it from
here."""

from .device_model_models import DeviceVariable  # noqa: F401
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
