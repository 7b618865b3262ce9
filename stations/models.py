"""The stations app's models, one place for Django to find them: locations, stations,
connectors, id tags, reservations, local lists and charging profiles (station_models.py),
tariffs (tariff_models.py), OCPP 2.0.1 device models (device_model_models.py) and what
2.0.1 stations report on their own (charger_report_models.py). Code
inside the app imports the module that defines a model; code outside may import it from
here."""

from .charger_report_models import ChargerReport, StationEvent  # noqa: F401
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
