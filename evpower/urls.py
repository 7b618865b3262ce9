"""Root URL configuration."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from evpower import health
from evpower.alertmanager import alertmanager_webhook
from evpower.metrics import views as metrics_views

# "/": a small page that says the platform is up and links the admin, the API docs and health
landing = require_safe(
    TemplateView.as_view(
        template_name="landing.html", extra_context={"sandbox": settings.PAYMENT_SANDBOX}
    )
)

urlpatterns = [
    path("", landing, name="landing"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # the admin's language switcher
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("health/detailed", health.detailed, name="health-detailed"),
    path("metrics", metrics_views.metrics, name="metrics"),
    path("alerts/alertmanager", alertmanager_webhook, name="alertmanager-webhook"),
    path("api/v1/", include("evpower.api.urls")),
    # OpenAPI 3 schema (JSON with ?format=json or Accept: application/json, else YAML) and
    # Swagger UI served from drf-spectacular-sidecar's static files: no CDN needed. The split
    # view serves its start-up script as a file of its own, so the CSP needs no inline script.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
if settings.PAYMENT_SANDBOX:  # development only: production refuses to start with it on
    urlpatterns.append(path("sandbox/", include("payments.sandbox.urls")))
