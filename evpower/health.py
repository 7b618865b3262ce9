"""Health endpoints for load balancers and orchestrators."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe


@require_safe
def live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers HTTP. Touches no dependency, so a database outage does not
    get every web process restarted at once."""
    return JsonResponse({"status": "ok"})


class LivenessMiddleware:
    """Answers /health/live before any other middleware.

    Probes address the container by IP or 127.0.0.1, which production ALLOWED_HOSTS rightly
    rejects (CommonMiddleware validates the Host header) and SECURE_SSL_REDIRECT would redirect.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/health/live":
            return live(request)
        return self.get_response(request)
