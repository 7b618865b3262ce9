"""gzip where it is safe (BREACH: compressing a secret next to input an attacker controls
lets them guess the secret from the sizes). Compressed: JSON answers to GET and HEAD under
/api/ of at least COMPRESS_MIN_BYTES (the map, lists, history). Never compressed: anything
else (the admin's pages carry CSRF tokens next to what a visitor typed; POST answers carry
tokens and payment links), nor an API answer whose view says it holds a secret
(`HoldsSecretMixin`: a top-up's checkout link, signed by the provider). Static files are
compressed by nginx (deploy/nginx.conf): they hold no secret."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.gzip import GZipMiddleware

API_PREFIX = "/api/"


class HoldsSecretMixin:
    """On a DRF view: its answers are never compressed."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response.holds_secret = True
        return response


def compressible(request: HttpRequest, response: HttpResponse) -> bool:
    return (
        request.method in ("GET", "HEAD")
        and request.path.startswith(API_PREFIX)
        and response.get("Content-Type", "").startswith("application/json")
        and not getattr(response, "holds_secret", False)
        and not response.streaming
        and len(response.content) >= settings.COMPRESS_MIN_BYTES
    )


class SafeGZipMiddleware(GZipMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if not compressible(request, response):
            return response
        return super().process_response(request, response)
