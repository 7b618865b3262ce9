"""The error envelope and the choice of message language, through the full Django stack on
test-only DRF views (routed by this module's `urlpatterns`)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.http import Http404
from django.urls import path
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from evpower.api.errors import ApiError
from evpower.api.messages import MESSAGES, accept_language

pytestmark = pytest.mark.urls(__name__)


class HeaderClientAuthentication(BaseAuthentication):
    """Test stand-in for the JWT: `X-Test-Language: ky` is a client whose profile says ky."""

    def authenticate(self, request):
        language = request.META.get("HTTP_X_TEST_LANGUAGE")
        if language is None:
            return None
        if language == "bad":
            raise exceptions.AuthenticationFailed()
        return SimpleNamespace(pk=1, is_authenticated=True, language=language), None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class PublicView(APIView):
    authentication_classes = [HeaderClientAuthentication]
    permission_classes = [AllowAny]


class BalanceSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1)


class FailView(PublicView):
    def get(self, request, kind):
        if kind == "api-error":
            raise ApiError("RATE_LIMITED", status_code=429, details={"why": "test"})
        if kind == "custom-message":
            raise ApiError("NOT_FOUND", status_code=404, message="Station CP-9 is not here.")
        if kind == "unknown-code":
            raise ApiError("NO_SUCH_CODE_YET", status_code=409)
        if kind == "http404":
            raise Http404
        if kind == "throttled":
            raise exceptions.Throttled(wait=12.2)
        return Response({"kind": kind})

    def post(self, request, kind):
        BalanceSerializer(data=request.data).is_valid(raise_exception=True)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PrivateView(PublicView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({})


urlpatterns = [
    path("fail/<str:kind>", FailView.as_view()),
    path("private", PrivateView.as_view()),
]


def error(response) -> dict:
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_api_error_keeps_code_status_and_details(client):
    response = client.get("/fail/api-error")
    assert response.status_code == 429
    assert error(response) == {
        "code": "RATE_LIMITED",
        "message": MESSAGES["RATE_LIMITED"]["en"],
        "details": {"why": "test"},
    }


def test_an_explicit_message_wins_and_an_unknown_code_gets_the_generic_text(client):
    assert error(client.get("/fail/custom-message"))["message"] == "Station CP-9 is not here."
    response = client.get("/fail/unknown-code", HTTP_ACCEPT_LANGUAGE="ky")
    assert response.status_code == 409
    assert error(response) == {
        "code": "NO_SUCH_CODE_YET",
        "message": MESSAGES["ERROR"]["ky"],
        "details": {},
    }


def test_validation_errors_list_the_fields(client):
    response = client.post("/fail/x", {"amount": 0}, content_type="application/json")
    assert response.status_code == 400
    body = error(response)
    assert body["code"] == "VALIDATION_ERROR"
    assert list(body["details"]["fields"]) == ["amount"]


def test_malformed_json_and_wrong_media_type(client):
    response = client.post("/fail/x", "{not json", content_type="application/json")
    assert (response.status_code, error(response)["code"]) == (400, "MALFORMED_REQUEST")
    response = client.post("/fail/x", "a=1", content_type="application/x-www-form-urlencoded")
    assert (response.status_code, error(response)["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_django_404_405_and_throttled_are_mapped(client):
    assert error(client.get("/fail/http404"))["code"] == "NOT_FOUND"
    response = client.delete("/fail/x")
    assert (response.status_code, error(response)["code"]) == (405, "METHOD_NOT_ALLOWED")
    response = client.get("/fail/throttled")
    assert response.status_code == 429
    assert response["Retry-After"] == "13"
    assert error(response)["details"] == {"retry_after": 13}


def test_unauthenticated_and_bad_token(client):
    response = client.get("/private")
    assert (response.status_code, error(response)["code"]) == (401, "UNAUTHENTICATED")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    response = client.get("/private", HTTP_X_TEST_LANGUAGE="bad", HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 401
    assert error(response) == {
        "code": "TOKEN_INVALID",
        "details": {},
        "message": MESSAGES["TOKEN_INVALID"]["ru"],
    }


def test_an_error_before_authentication_does_not_authenticate_in_the_handler(client):
    # 406 comes from content negotiation, before authentication; a bad token must not turn
    # the error answer into a 500 when the handler looks for the client's language
    response = client.get(
        "/fail/x", HTTP_ACCEPT="text/html", HTTP_X_TEST_LANGUAGE="bad", HTTP_ACCEPT_LANGUAGE="ky"
    )
    assert response.status_code == 406
    assert error(response) == {
        "code": "NOT_ACCEPTABLE",
        "details": {},
        "message": MESSAGES["NOT_ACCEPTABLE"]["ky"],
    }


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ru", "ru"),
        ("ky", "ky"),
        ("en", "en"),
        ("", "en"),
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
        ("ky-KG", "ky"),
        ("KY", "ky"),
        ("en;q=0.5, ru;q=0.9", "ru"),
        ("en;q=0.5, ru; q=0.4, ky;q=0.6", "ky"),
        ("fr-FR, de;q=0.9, ru;q=0.1", "ru"),
        ("ru;q=0, en;q=0.1", "en"),
        ("ru;q=0", "en"),
        ("ky, ru", "ky"),  # equal weight: the header's order
        ("ru;q=0.8, ky;q=0.8", "ru"),
        ("*", "en"),
        ("de, fr", "en"),
        ("ru;q=bogus, ky;q=0.1", "ky"),
        ("zz-ZZ;;;,,, ;q=", "en"),
    ],
)
def test_accept_language_selection(client, header, language):
    assert accept_language(header) == language
    response = client.get("/fail/http404", HTTP_ACCEPT_LANGUAGE=header)
    assert error(response)["message"] == MESSAGES["NOT_FOUND"][language]


@pytest.mark.parametrize("language", ["ru", "ky", "en"])
def test_the_clients_own_language_wins_over_the_header(client, language):
    response = client.get(
        "/fail/http404",
        HTTP_X_TEST_LANGUAGE=language,
        HTTP_ACCEPT_LANGUAGE="ru;q=0.1, en;q=0.2, ky;q=0.3",
    )
    assert error(response)["message"] == MESSAGES["NOT_FOUND"][language]


def test_an_unsupported_client_language_falls_back_to_the_header(client):
    response = client.get("/fail/http404", HTTP_X_TEST_LANGUAGE="de", HTTP_ACCEPT_LANGUAGE="ky")
    assert error(response)["message"] == MESSAGES["NOT_FOUND"]["ky"]


def test_every_code_has_all_three_languages():
    from evpower.api.messages import LANGUAGES, all_messages

    missing = {
        code: sorted(set(LANGUAGES) - set(texts))
        for code, texts in all_messages().items()
        if set(LANGUAGES) - set(texts)
    }
    assert missing == {}
