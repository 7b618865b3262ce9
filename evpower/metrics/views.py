"""GET /metrics: the Prometheus text format, for a staff session or
`Authorization: Bearer <METRICS_TOKEN>`, from METRICS_ALLOWED_IPS when that is set."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_prometheus.exports import ExportToDjangoView

from evpower.operator_access import operator_refusal

from . import collectors, registry  # noqa: F401 - registered in the default registry on import


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    refusal = operator_refusal(
        request, token=settings.METRICS_TOKEN, allowed_ips=settings.METRICS_ALLOWED_IPS
    )
    if refusal is not None:
        return refusal
    return ExportToDjangoView(request)
