"""OpenAPI (drf-spectacular) conventions shared by every endpoint.

- `AutoSchema` (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]) documents the error envelope for the
  4xx answers every operation can give (400 when it takes input, 401/403 when it accepts a
  token, 404 when its path names an object, 429 always), unless the view documented that
  status itself.
- `ClientJWTScheme` declares the driver's bearer JWT as the `bearerAuth` security scheme.
- Views document their own error codes with `error_response("INSUFFICIENT_BALANCE", ...)`:

      @extend_schema(responses={201: SessionSerializer,
                                402: error_response("INSUFFICIENT_BALANCE")})
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Stable machine-readable code the app switches on (VALIDATION_ERROR, "
        "NOT_FOUND, RATE_LIMITED, INSUFFICIENT_BALANCE, …). New codes may be added: "
        "treat an unknown one as a generic error."
    )
    message = serializers.CharField(
        help_text="Human message in the client's language (profile language, else "
        "Accept-Language: ru, ky or en)."
    )
    details = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Code-specific data. VALIDATION_ERROR: `fields` (field → messages) or "
        "`non_field_errors`; RATE_LIMITED: `retry_after` (seconds).",
    )


class ErrorEnvelopeSerializer(serializers.Serializer):
    error = ErrorSerializer()


def error_response(*codes: str, description: str = "") -> OpenApiResponse:
    """An error-envelope response naming the codes this operation may answer with."""
    text = description or "Error: " + ", ".join(codes)
    return OpenApiResponse(ErrorEnvelopeSerializer, description=text)


_RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before retrying.",
    }
}


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        takes_input = "requestBody" in operation or any(
            parameter.get("in") == "query" for parameter in operation.get("parameters", ())
        )
        security = operation.get("security", ())
        # `security` lists the accepted schemes, {} meaning "anonymous too". Without any
        # scheme (e.g. /version) no token is looked at, so 401/403 cannot happen.
        reads_token = any(security)
        defaults = {
            "400": (takes_input, "VALIDATION_ERROR or MALFORMED_REQUEST"),
            "401": (reads_token, "UNAUTHENTICATED (no token) or TOKEN_INVALID"),
            "403": (
                reads_token and {} not in security,
                "FORBIDDEN, CLIENT_BLOCKED or ACCOUNT_PENDING_DELETION",
            ),
            "404": ("{" in path, "NOT_FOUND"),
            "429": (True, "RATE_LIMITED; wait Retry-After seconds"),
        }
        for code, (applies, description) in defaults.items():
            if applies and code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorEnvelopeSerializer, description=description), code
                )
                if code == "429":
                    responses[code]["headers"] = dict(_RETRY_AFTER)
        return operation


class ClientJWTScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ClientJWTAuthentication"
    match_subclasses = True
    optional = True  # silent while accounts is being written
    name = "bearerAuth"
    priority = 1  # over drf-spectacular's own simplejwt extension, should the class extend it

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from POST /api/v1/auth/otp/verify "
            "(or a refresh), sent as `Authorization: Bearer <token>`.",
        }
