"""Drivers' tokens across a key rotation: signed with the current key (SIMPLE_JWT's
SIGNING_KEY), accepted when signed with it or with one of JWT_SIGNING_KEY_FALLBACKS, so
putting a new key in place logs nobody out; the old one can go once the longest-lived
token signed with it (a refresh token, JWT_REFRESH_DAYS) has expired. Every check but the
signature (audience, issuer, expiry) is the same whichever key verifies."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework_simplejwt import settings as jwt_settings
from rest_framework_simplejwt.backends import (
    TokenBackend,
    TokenBackendError,
    TokenBackendExpiredToken,
)
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken


class RotatingKeyTokenBackend(TokenBackend):
    def __init__(self, *args: Any, fallback_keys: tuple[str, ...] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.earlier = [
            TokenBackend(
                self.algorithm,
                key,
                None,
                self.audience,
                self.issuer,
                None,
                self.leeway,
                self.json_encoder,
            )
            for key in fallback_keys
        ]

    def decode(self, token, verify: bool = True) -> dict[str, Any]:
        try:
            return super().decode(token, verify)
        except TokenBackendExpiredToken:
            raise  # its signature was good: expired is the answer
        except TokenBackendError:
            if not verify:
                raise
            for backend in self.earlier:
                try:
                    return backend.decode(token, verify)
                except TokenBackendExpiredToken:
                    raise
                except TokenBackendError:
                    continue
            raise


def token_backend() -> RotatingKeyTokenBackend:
    # read through the module: simplejwt rebinds its api_settings when SIMPLE_JWT changes
    api_settings = jwt_settings.api_settings
    return RotatingKeyTokenBackend(
        api_settings.ALGORITHM,
        api_settings.SIGNING_KEY,
        api_settings.VERIFYING_KEY,
        api_settings.AUDIENCE,
        api_settings.ISSUER,
        api_settings.JWK_URL,
        api_settings.LEEWAY,
        api_settings.JSON_ENCODER,
        fallback_keys=tuple(settings.JWT_SIGNING_KEY_FALLBACKS),
    )


class ClientAccessToken(AccessToken):
    @property
    def token_backend(self) -> TokenBackend:
        return token_backend()


class ClientRefreshToken(RefreshToken):
    access_token_class = ClientAccessToken

    @property
    def token_backend(self) -> TokenBackend:
        return token_backend()
