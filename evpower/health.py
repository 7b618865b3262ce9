"""Health endpoints for load balancers and orchestrators."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from evpower.operator_access import operator_refusal
from evpower.probes import reports


@require_safe
def live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers HTTP. Touches no dependency, so a database outage does not
    get every web process restarted at once."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: the database, and Redis when configured, answer. 503 takes the process out
    of the load balancer until they do; every check is bounded by HEALTH_CHECK_TIMEOUT."""
    report = reports.readiness()
    return JsonResponse(report.body, status=report.http_status)


@never_cache
@require_safe
def detailed(request: HttpRequest) -> JsonResponse:
    """Every dependency with its latency, Celery workers, beat's last tick and connected
    chargers, for operators: a staff session or `Authorization: Bearer <HEALTH_TOKEN>`."""
    refusal = operator_refusal(request, token=settings.HEALTH_TOKEN)
    if refusal is not None:
        return refusal
    report = reports.detailed()
    return JsonResponse(report.body, status=report.http_status)


PROBE_VIEWS = {"/health/live": live, "/health/ready": ready}


class LivenessMiddleware:
    """Answers /health/live and /health/ready before any other middleware.

    Probes address the container by IP or 127.0.0.1, which production ALLOWED_HOSTS rightly
    rejects (CommonMiddleware validates the Host header) and SECURE_SSL_REDIRECT would redirect.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBE_VIEWS.get(request.path)
        if probe is not None:
            return probe(request)
        return self.get_response(request)
