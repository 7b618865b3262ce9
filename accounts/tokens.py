"""JWTs for drivers: issue, rotate with reuse detection, revoke, and resolve an access token.

Every login is a `LoginSession` (a refresh-token family). Both tokens carry its id as `sid`,
so revoking the session kills its access tokens at once (checked on every request) as well
as its refresh token. Refresh tokens rotate on every use; presenting one that was already
exchanged means two parties hold it, so the whole family is revoked.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone
from rest_framework import status
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from .errors import ApiError, TokenRejected
from .jwt_keys import ClientAccessToken as AccessToken
from .jwt_keys import ClientRefreshToken as RefreshToken
from .models import Client, LoginSession, UsedRefreshToken

logger = logging.getLogger(__name__)

SESSION_CLAIM = "sid"
# Statuses whose tokens keep working. pending_deletion is let through authentication and
# limited by the permission (read and log out); requesting deletion revokes sessions anyway.
TOKEN_STATUSES = (Client.Status.ACTIVE, Client.Status.PENDING_DELETION)


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    session: LoginSession


def _issue(session: LoginSession) -> TokenPair:
    refresh = RefreshToken()
    refresh[jwt_settings.USER_ID_CLAIM] = session.client_id
    refresh[SESSION_CLAIM] = str(session.id)
    session.refresh_jti = refresh[jwt_settings.JTI_CLAIM]
    session.expires_at = datetime.fromtimestamp(refresh["exp"], tz=UTC)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh), session=session)


def session_start(*, client: Client, ip: str | None = None, user_agent: str = "") -> TokenPair:
    session = LoginSession(client=client, ip=ip, user_agent=user_agent[:300])
    pair = _issue(session)
    session.save()
    return pair


def session_refresh(*, raw_refresh: str) -> TokenPair:
    try:
        token = RefreshToken(raw_refresh)
    except TokenError as exc:
        raise TokenRejected() from exc
    session_id = _uuid(token.get(SESSION_CLAIM))
    failure: ApiError | None = None
    with transaction.atomic():
        # The row lock serialises two refreshes of the same token: the loser sees a used jti.
        session = (
            LoginSession.objects.select_for_update()
            .select_related("client")
            .filter(id=session_id)
            .first()
            if session_id
            else None
        )
        if session is None or session.revoked_at is not None:
            failure = TokenRejected()
        elif token[jwt_settings.JTI_CLAIM] != session.refresh_jti:
            _revoke(LoginSession.objects.filter(pk=session.pk), LoginSession.RevokeReason.REUSE)
            logger.warning(
                "refresh token reused: session %s of client %s revoked",
                session.id,
                session.client_id,
            )
            failure = TokenRejected("TOKEN_REUSED")
        elif session.client.status not in TOKEN_STATUSES:
            failure = _status_error(session.client)
        else:
            UsedRefreshToken.objects.create(jti=session.refresh_jti, session=session)
            pair = _issue(session)
            session.refreshed_at = timezone.now()
            session.save(update_fields=["refresh_jti", "expires_at", "refreshed_at"])
    if failure is not None:  # raised after commit: the revocation above must stick
        raise failure
    return pair


def authenticate_access(raw_access: str) -> tuple[Client, LoginSession]:
    """The client and session behind a valid access token; raises `ApiError` otherwise.

    One query: the session with its client. Revoked sessions and blocked or deleted
    clients are refused here, so their tokens stop working the moment that is written.
    """
    try:
        token = AccessToken(raw_access)
    except TokenError as exc:
        raise TokenRejected() from exc
    session_id = _uuid(token.get(SESSION_CLAIM))
    client_id = token.get(jwt_settings.USER_ID_CLAIM)
    if session_id is None or not isinstance(client_id, int):
        raise TokenRejected()
    session = (
        LoginSession.objects.select_related("client")
        .filter(id=session_id, client_id=client_id)
        .first()
    )
    if session is None or session.revoked_at is not None:
        raise TokenRejected()
    if session.client.status not in TOKEN_STATUSES:
        raise _status_error(session.client)
    return session.client, session


def client_from_access_token(token: str) -> tuple[Client, uuid.UUID] | None:
    """For the realtime WebSocket: the client and login of a usable access token, else
    None.

    Synchronous (it queries the database): call it through `database_sync_to_async`.
    """
    try:
        client, session = authenticate_access(token)
    except ApiError:
        return None
    return client, session.pk


def session_revoke(
    *, session_id: uuid.UUID, reason: str = LoginSession.RevokeReason.LOGOUT
) -> None:
    _revoke(LoginSession.objects.filter(pk=session_id), reason)


def client_sessions_revoke(
    *, client_id: int, reason: str = LoginSession.RevokeReason.LOGOUT_ALL
) -> int:
    return _revoke(LoginSession.objects.filter(client_id=client_id), reason)


def _revoke(sessions, reason: str) -> int:
    ids = list(sessions.filter(revoked_at__isnull=True).values_list("pk", flat=True))
    revoked = sessions.filter(pk__in=ids, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoke_reason=reason
    )
    if ids:
        # an open realtime socket of these logins closes too (stations.consumers), once
        # the revocation is committed
        transaction.on_commit(lambda: _close_sockets(ids, reason))
    return revoked


def login_group(session_id: uuid.UUID) -> str:
    """The channel-layer group of one login's realtime sockets."""
    return f"app.login.{session_id.hex}"


def _close_sockets(session_ids: list[uuid.UUID], reason: str) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    for session_id in session_ids:
        try:
            async_to_sync(layer.group_send)(
                login_group(session_id), {"type": "app.revoked", "reason": reason}
            )
        except Exception:  # the socket's own re-check closes it within a minute anyway
            logger.exception("could not tell the sockets of login %s", session_id)


def login_usable(session_id: uuid.UUID) -> bool:
    """For a realtime socket's re-check: its login is not revoked and its client may still
    use tokens (the socket outlives its access token's expiry; its login must not)."""
    return LoginSession.objects.filter(
        pk=session_id, revoked_at__isnull=True, client__status__in=TOKEN_STATUSES
    ).exists()


def _status_error(client: Client) -> ApiError:
    if client.status == Client.Status.BLOCKED:
        return ApiError("CLIENT_BLOCKED", status_code=status.HTTP_403_FORBIDDEN)
    return TokenRejected()


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
