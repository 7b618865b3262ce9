from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import Client, LoginSession, UsedRefreshToken
from accounts.services import client_block
from accounts.tests.support import PHONE_A, assert_error, authed, login
from accounts.tokens import client_from_access_token

REFRESH, ME = "/api/v1/auth/refresh", "/api/v1/me"


def refresh(api, token):
    return api.post(REFRESH, {"refresh": token}, format="json")


def test_tokens_carry_the_login_session_and_short_lifetimes(db):
    tokens = login()
    access, refresh_token = AccessToken(tokens["access"]), RefreshToken(tokens["refresh"])
    session = LoginSession.objects.get()
    assert access["sid"] == refresh_token["sid"] == str(session.id)
    assert access["client_id"] == tokens["client"]["id"]
    assert timedelta(seconds=access["exp"] - access["iat"]) <= timedelta(minutes=15)
    assert timedelta(seconds=refresh_token["exp"] - refresh_token["iat"]) == timedelta(days=7)


def test_access_token_authenticates_in_one_query(db):
    tokens = login()
    api = authed(tokens["access"])
    with CaptureQueriesContext(connection) as queries:
        response = api.get(ME)
    assert response.status_code == 200 and response.json()["phone"] == PHONE_A
    assert len(queries) == 1


def test_refresh_rotates_and_records_the_old_jti(db, api):
    tokens = login()
    response = refresh(api, tokens["refresh"])
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["refresh"] != tokens["refresh"]
    old_jti = RefreshToken(tokens["refresh"])["jti"]
    assert UsedRefreshToken.objects.filter(jti=old_jti).exists()
    assert authed(rotated["access"]).get(ME).status_code == 200
    assert refresh(api, rotated["refresh"]).status_code == 200  # the chain goes on


def test_reused_refresh_token_revokes_the_whole_login(db, api):
    tokens = login()
    rotated = refresh(api, tokens["refresh"]).json()
    # someone presents the already-used token again
    assert_error(refresh(api, tokens["refresh"]), 401, "TOKEN_REUSED")
    session = LoginSession.objects.get()
    assert session.revoke_reason == LoginSession.RevokeReason.REUSE
    # every token of the family is dead: the legitimate holder must log in again
    assert_error(refresh(api, rotated["refresh"]), 401, "TOKEN_INVALID")
    assert_error(authed(rotated["access"]).get(ME), 401, "TOKEN_INVALID")
    assert_error(authed(tokens["access"]).get(ME), 401, "TOKEN_INVALID")


def test_reuse_revokes_only_that_login(db, api):
    phone_login, tablet_login = login(), login()
    refresh(api, phone_login["refresh"])
    refresh(api, phone_login["refresh"])
    assert authed(tablet_login["access"]).get(ME).status_code == 200


def test_garbage_and_access_tokens_are_not_refresh_tokens(db, api):
    tokens = login()
    assert_error(refresh(api, "not-a-token"), 401, "TOKEN_INVALID")
    assert_error(refresh(api, tokens["access"]), 401, "TOKEN_INVALID")
    assert_error(authed(tokens["refresh"]).get(ME), 401, "TOKEN_INVALID")


def test_missing_token_is_unauthenticated_with_www_authenticate(db, api):
    response = api.get(ME)
    assert_error(response, 401, "UNAUTHENTICATED")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert_error(authed("x.y.z").get(ME), 401, "TOKEN_INVALID")


def test_logout_revokes_this_login_only(db, api):
    first, second = login(), login()
    assert authed(first["access"]).post("/api/v1/auth/logout").status_code == 204
    assert_error(authed(first["access"]).get(ME), 401, "TOKEN_INVALID")
    assert_error(refresh(api, first["refresh"]), 401, "TOKEN_INVALID")
    assert authed(second["access"]).get(ME).status_code == 200


def test_logout_all_revokes_every_login_of_the_client(db, api):
    first, second = login(), login()
    other = login(phone="+996700000002")
    assert authed(first["access"]).post("/api/v1/auth/logout-all").status_code == 204
    for tokens in (first, second):
        assert_error(authed(tokens["access"]).get(ME), 401, "TOKEN_INVALID")
        assert_error(refresh(api, tokens["refresh"]), 401, "TOKEN_INVALID")
    assert authed(other["access"]).get(ME).status_code == 200


def test_blocked_clients_tokens_stop_working_at_once(db, api):
    tokens = login()
    client_block(client_id=tokens["client"]["id"], reason="test", by="test")
    assert_error(authed(tokens["access"]).get(ME), 401, "TOKEN_INVALID")
    assert_error(refresh(api, tokens["refresh"]), 401, "TOKEN_INVALID")


def test_blocked_status_alone_rejects_the_token(db):
    # even if the sessions were somehow not revoked, the status is checked on every request
    tokens = login()
    Client.objects.filter(pk=tokens["client"]["id"]).update(status=Client.Status.BLOCKED)
    assert_error(authed(tokens["access"]).get(ME), 403, "CLIENT_BLOCKED")


def test_client_from_access_token_for_the_websocket(db):
    tokens = login()
    assert client_from_access_token(tokens["access"])[0].phone == PHONE_A
    assert client_from_access_token(tokens["refresh"]) is None
    assert client_from_access_token("garbage") is None
    authed(tokens["access"]).post("/api/v1/auth/logout")
    assert client_from_access_token(tokens["access"]) is None


def test_a_key_rotation_keeps_drivers_logged_in_and_an_unknown_key_does_not(db, settings):
    from accounts.tokens import authenticate_access, session_refresh

    old_key, new_key = "o" * 40, "n" * 40
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": old_key}
    before = login()

    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": new_key}
    settings.JWT_SIGNING_KEY_FALLBACKS = [old_key]
    client, _ = authenticate_access(before["access"])  # signed with the old key: accepted
    after = session_refresh(raw_refresh=before["refresh"])  # and its refresh token too
    assert client.pk == before["client"]["id"]
    from accounts.jwt_keys import ClientAccessToken

    settings.JWT_SIGNING_KEY_FALLBACKS = []
    assert ClientAccessToken(after.access)["client_id"] == client.pk  # the new key's

    settings.JWT_SIGNING_KEY_FALLBACKS = []  # the old key retired: its tokens stop
    assert client_from_access_token(before["access"]) is None
    assert client_from_access_token(after.access) is not None


def test_a_token_for_another_audience_is_refused(db, settings):
    import jwt

    tokens = login()
    claims = dict(AccessToken(tokens["access"]).payload)
    assert claims["aud"] == "evpower-app"
    forged = jwt.encode(
        {**claims, "aud": "evpower-admin"}, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256"
    )
    assert client_from_access_token(forged) is None
    assert client_from_access_token(tokens["access"]) is not None
