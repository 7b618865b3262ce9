"""Login by code and token lifecycle. Thin: parse, call one service, render."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import otp, tokens
from evpower.api.messages import accept_language
from evpower.api.throttling import client_ip  # REMOTE_ADDR (trusted proxies), IPv6 per /64
from evpower.operator_access import is_smoke_check

from .serializers import (
    ClientSerializer,
    LoginOut,
    OtpRequestIn,
    OtpRequestOut,
    OtpVerifyIn,
    RefreshIn,
    TokensOut,
)


class PublicAuthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "auth"  # stricter per-IP rate (evpower.api.throttling)

    def get_authenticate_header(self, request) -> str:
        # without authenticators DRF would turn a rejected refresh token's 401 into 403
        return 'Bearer realm="api"'


class OtpRequestView(PublicAuthView):
    @extend_schema(
        request=OtpRequestIn,
        responses={202: OtpRequestOut},
        tags=["auth"],
        summary="Send a login code by SMS (same answer for known and new phones)",
    )
    def post(self, request):
        data = OtpRequestIn(data=request.data)
        data.is_valid(raise_exception=True)
        if is_smoke_check(request):  # a deploy's smoke check: validated, throttled, no SMS
            return Response(
                {
                    "expires_in": settings.OTP_TTL_SECONDS,
                    "resend_after": settings.OTP_RESEND_SECONDS,
                    "dry_run": True,
                },
                status=status.HTTP_202_ACCEPTED,
            )
        asked = request.META.get("HTTP_ACCEPT_LANGUAGE", "")  # the SMS speaks the app's language
        otp.otp_request(
            phone=data.validated_data["phone"],
            ip=client_ip(request),
            language=accept_language(asked) if asked else "",
        )
        return Response(
            {"expires_in": settings.OTP_TTL_SECONDS, "resend_after": settings.OTP_RESEND_SECONDS},
            status=status.HTTP_202_ACCEPTED,
        )


class OtpVerifyView(PublicAuthView):
    @extend_schema(
        request=OtpVerifyIn,
        responses={200: LoginOut},
        tags=["auth"],
        summary="Exchange a code for tokens; the first login creates the account",
    )
    def post(self, request):
        data = OtpVerifyIn(data=request.data)
        data.is_valid(raise_exception=True)
        login = otp.otp_verify(
            **data.validated_data,
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        return Response(
            {
                "access": login.tokens.access,
                "refresh": login.tokens.refresh,
                "client": ClientSerializer(login.client).data,
                "created": login.created,
            }
        )


class RefreshView(PublicAuthView):
    # Not the strict OTP scope: many phones share one carrier address (CGNAT) and each
    # refreshes every 15 minutes. A refresh token is itself the credential, so the
    # ordinary per-IP anonymous limit is enough.
    throttle_scope = None

    @extend_schema(
        request=RefreshIn,
        responses={200: TokensOut},
        tags=["auth"],
        summary="Rotate: a new access and refresh token; the old refresh is spent",
    )
    def post(self, request):
        data = RefreshIn(data=request.data)
        data.is_valid(raise_exception=True)
        pair = tokens.session_refresh(raw_refresh=data.validated_data["refresh"])
        return Response({"access": pair.access, "refresh": pair.refresh})


class LogoutView(APIView):
    allow_pending_deletion = True

    @extend_schema(
        request=None,
        responses={204: None},
        tags=["auth"],
        summary="Revoke this login (its access and refresh tokens)",
    )
    def post(self, request):
        tokens.session_revoke(session_id=request.auth.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    allow_pending_deletion = True

    @extend_schema(
        request=None,
        responses={204: None},
        tags=["auth"],
        summary="Revoke every login of this client",
    )
    def post(self, request):
        tokens.client_sessions_revoke(client_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
