"""The charging app's models, one place for Django to find them: the charger's
transactions and meter samples (transaction_models.py), the session (session/models.py),
parked messages and the billing review queue. Code inside the app imports the module that
defines a model; code outside may import it from here."""

from .parked_models import ParkedMessage  # noqa: F401
from .review_models import BillingReview  # noqa: F401
from .session.models import ChargingSession  # noqa: F401
from .transaction_models import MeterSample, OcppTransaction  # noqa: F401
