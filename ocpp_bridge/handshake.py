"""Who may open a charger socket: identity, security profile, credentials.

Runs before the WebSocket upgrade so a refusal is a plain HTTP answer (401/404). The
password hash, the costly part, is a step of its own (`password_work`), run by the consumer
on the password gate's threads, never on the database pool that applies charger frames.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass

from django.conf import settings

from evpower.models import SecurityEvent
from evpower.security_events import CONNECTION_REFUSED, security_event_record
from stations import credentials
from stations.models import IDENTITY_PATTERN, Station
from stations.selectors import station_by_identity
from stations.services import station_auto_register

_IDENTITY = re.compile(IDENTITY_PATTERN)
_CN = re.compile(r"(?:^|[,/])\s*CN\s*=\s*([^,/]+)")


@dataclass(frozen=True)
class Verdict:
    status: int  # 0 = let in; else the HTTP status to refuse with
    reason: str = ""
    station: Station | None = None
    code: str = ""  # a refusal's kind, one of a few (the metric's label)


@dataclass(frozen=True)
class Handshake:
    identity: str
    headers: dict[str, str]  # lower-cased names
    client_ip: str
    tls: bool  # the socket itself is TLS (wss)


def _basic_credentials(headers: dict[str, str]) -> tuple[str, str] | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _from_trusted_proxy(hs: Handshake) -> bool:
    # "*": the server is reachable only through the proxy (docker-compose.yml), which sets
    # or blanks the certificate headers on every request; needed with --proxy-headers, where
    # the peer address is already the charger's, not the proxy's
    trusted = settings.OCPP_TRUSTED_PROXIES
    return "*" in trusted or hs.client_ip in trusted


def _is_tls(hs: Handshake) -> bool:
    if hs.tls:
        return True
    return _from_trusted_proxy(hs) and hs.headers.get("x-forwarded-proto", "") == "https"


def _client_cert_ok(hs: Handshake) -> bool:
    """Profile 3: TLS ended at a proxy we trust, which verified the client certificate
    and forwards the verdict and the subject; the certificate's CN must be the identity."""
    if not _from_trusted_proxy(hs):
        return False
    verified = hs.headers.get(settings.OCPP_CLIENT_CERT_VERIFY_HEADER.lower(), "")
    subject = hs.headers.get(settings.OCPP_CLIENT_CERT_DN_HEADER.lower(), "")
    match = _CN.search(subject)
    return verified == "SUCCESS" and match is not None and match.group(1).strip() == hs.identity


def _refuse(hs: Handshake, station: Station | None, status: int, reason: str, code: str) -> Verdict:
    security_event_record(
        station_id=station.pk if station else None,
        identity=hs.identity,
        kind=CONNECTION_REFUSED,
        tech_info=reason,
        remote_addr=hs.client_ip,
        source=SecurityEvent.Source.PLATFORM,
    )
    return Verdict(status=status, reason=reason, code=code)


@dataclass(frozen=True)
class PasswordCheck:
    """A handshake that only a password hash can decide. Hashing is CPU work kept off the
    database threads (ocpp_bridge/password_gate.py): `handshake_screen` (database) returns
    this, `password_work` (the gate's threads) hashes, `handshake_decide` (database) ends."""

    station: Station | None  # None: an unknown identity
    password: str
    user_ok: bool = True  # the Basic user is the identity
    register: bool = False  # auto-registration: the password is hashed to be stored


@dataclass(frozen=True)
class PasswordOutcome:
    matches: bool
    new_hash: str = ""  # auto-registration's hash of the presented password
    problem: str = ""


def authenticate_charger(hs: Handshake) -> Verdict:
    """The whole decision on one thread (tests and tools; the consumer runs the three
    steps on their own pools)."""
    step = handshake_screen(hs)
    if isinstance(step, Verdict):
        return step
    return handshake_decide(hs, step, password_work(step))


def handshake_screen(hs: Handshake) -> Verdict | PasswordCheck:
    if not _IDENTITY.match(hs.identity):
        return Verdict(status=404, reason="not a charge point identity", code="bad_identity")
    creds = _basic_credentials(hs.headers)
    station = station_by_identity(hs.identity)
    if station is None:
        return _unknown_station(hs, creds)
    if station.security_profile == Station.SecurityProfile.CLIENT_CERT:
        if _client_cert_ok(hs):
            return Verdict(status=0, station=station)
        return _refuse(
            hs, station, 401, "client certificate missing or not for this identity", "client_cert"
        )
    if station.security_profile == Station.SecurityProfile.BASIC_TLS and not _is_tls(hs):
        return _refuse(hs, station, 401, "security profile 2 requires TLS", "tls_required")
    if creds is None:
        return _refuse(hs, station, 401, "missing HTTP Basic credentials", "no_credentials")
    user, password = creds
    # a wrong user is hashed too: the time taken tells nothing about what was wrong
    return PasswordCheck(station=station, password=password, user_ok=user == hs.identity)


def password_work(check: PasswordCheck) -> PasswordOutcome:
    """The hashing (no database): the same work whether the identity exists or not."""
    if check.register:
        try:
            return PasswordOutcome(matches=True, new_hash=credentials.hash_password(check.password))
        except credentials.InvalidChargerPassword as exc:
            return PasswordOutcome(matches=False, problem=str(exc))
    encoded = check.station.password_hash if check.station is not None else ""
    matches = credentials.check_password_constant_time(check.password, encoded)
    return PasswordOutcome(matches=matches and check.user_ok and check.station is not None)


def handshake_decide(hs: Handshake, check: PasswordCheck, outcome: PasswordOutcome) -> Verdict:
    if check.register:
        if not outcome.matches:
            return _refuse(hs, None, 401, outcome.problem, "auto_register")
        station = station_auto_register(identity=hs.identity, password_hash=outcome.new_hash)
        if not hmac.compare_digest(station.password_hash, outcome.new_hash):  # lost a race
            return _refuse(hs, station, 401, "registered meanwhile; connect again", "auto_register")
        return Verdict(status=0, station=station)
    if check.station is None:
        return Verdict(status=404, reason="unknown charge point", code="unknown_station")
    if not outcome.matches:
        return _refuse(hs, check.station, 401, "wrong credentials", "wrong_credentials")
    return Verdict(status=0, station=check.station)


def _unknown_station(hs: Handshake, creds: tuple[str, str] | None) -> Verdict | PasswordCheck:
    if not settings.OCPP_AUTO_REGISTER:
        if creds is None:
            return Verdict(status=404, reason="unknown charge point", code="unknown_station")
        # hashed like a known identity's wrong password: no timing oracle for which ids exist
        return PasswordCheck(station=None, password=creds[1])
    if creds is None or creds[0] != hs.identity:
        return _refuse(hs, None, 401, "auto-registration needs Basic credentials", "auto_register")
    return PasswordCheck(station=None, password=creds[1], register=True)
