"""The billing review queue: parked charger messages about money (`ParkedMessage` with
reason `unbilled_transaction`, `stop_after_settlement` or `implausible_meter`). A proxy:
no table of its own, only an admin page and its permissions (charging/admin_review.py;
the decisions are services in charging/review.py)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .parked_models import ParkedMessage

REVIEW_REASONS = (
    ParkedMessage.Reason.UNBILLED_TRANSACTION,
    ParkedMessage.Reason.STOP_AFTER_SETTLEMENT,
    ParkedMessage.Reason.IMPLAUSIBLE_METER,
)


class BillingReview(ParkedMessage):
    class Meta:
        proxy = True
        verbose_name = _("billing review item")
        verbose_name_plural = _("billing review queue")
