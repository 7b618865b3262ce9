"""Who may open a charger socket: profiles 1-3, auto-registration (no socket needed)."""

import pytest

from evpower.tests.support.processes import CHARGER_PASSWORD
from ocpp_bridge.handshake import Handshake, authenticate_charger
from ocpp_bridge.tests.charger import basic
from stations.models import Station

pytestmark = pytest.mark.django_db
PROXY = "10.0.0.5"


def lower(headers):
    return {k.lower(): v for k, v in headers.items()}


def shake(identity, headers=None, *, client_ip="127.0.0.1", tls=False):
    return authenticate_charger(
        Handshake(identity=identity, headers=lower(headers or {}), client_ip=client_ip, tls=tls)
    )


def test_profile_1_accepts_the_right_password_only(make_station):
    make_station("CP-P1")
    assert shake("CP-P1", basic("CP-P1")).status == 0
    assert shake("CP-P1", basic("CP-P1", "x" * 20)).status == 401
    assert shake("CP-P1", {"Authorization": "Basic !!!not-base64"}).status == 401
    assert shake("CP-P1", {"Authorization": "Bearer abc"}).status == 401


def test_profile_2_requires_tls_directly_or_from_a_trusted_proxy(make_station, settings):
    settings.OCPP_TRUSTED_PROXIES = [PROXY]
    make_station("CP-P2", security_profile=2)
    assert shake("CP-P2", basic("CP-P2")).status == 401
    assert shake("CP-P2", basic("CP-P2"), tls=True).status == 0
    forwarded = {**basic("CP-P2"), "X-Forwarded-Proto": "https"}
    assert shake("CP-P2", forwarded, client_ip=PROXY).status == 0
    assert shake("CP-P2", forwarded, client_ip="203.0.113.9").status == 401  # not our proxy


def test_profile_3_needs_a_verified_certificate_for_this_identity(make_station, settings):
    settings.OCPP_TRUSTED_PROXIES = [PROXY]
    make_station("CP-P3", security_profile=3)
    good = {"X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-S-DN": "CN=CP-P3,O=ACME"}
    assert shake("CP-P3", good, client_ip=PROXY).status == 0
    assert shake("CP-P3", good, client_ip="203.0.113.9").status == 401
    assert (
        shake("CP-P3", {**good, "X-SSL-Client-Verify": "FAILED:expired"}, client_ip=PROXY).status
        == 401
    )
    assert (
        shake("CP-P3", {**good, "X-SSL-Client-S-DN": "CN=CP-OTHER"}, client_ip=PROXY).status == 401
    )
    # a lower profile is never accepted for a profile-3 station
    assert shake("CP-P3", basic("CP-P3"), client_ip=PROXY).status == 401


def test_a_server_behind_its_proxy_only_trusts_every_peer_with_star(make_station, settings):
    # with uvicorn --proxy-headers the peer address is the charger's own, not the proxy's
    settings.OCPP_TRUSTED_PROXIES = ["*"]
    make_station("CP-P3S", security_profile=3)
    good = {"X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-S-DN": "CN=CP-P3S"}
    assert shake("CP-P3S", good, client_ip="203.0.113.9").status == 0
    assert (
        shake("CP-P3S", {**good, "X-SSL-Client-Verify": ""}, client_ip="203.0.113.9").status == 401
    )


def test_unknown_identity_is_404_unless_auto_registration(db, settings):
    assert shake("CP-NEW", basic("CP-NEW")).status == 404
    settings.OCPP_AUTO_REGISTER = True
    assert shake("CP-NEW").status == 401  # still needs credentials to register
    verdict = shake("CP-NEW", basic("CP-NEW"))
    assert verdict.status == 0
    assert verdict.station.registration_status == Station.Registration.PENDING
    # the password it registered with is now its password
    assert shake("CP-NEW", basic("CP-NEW", "another-password-1")).status == 401
    assert shake("CP-NEW", basic("CP-NEW", CHARGER_PASSWORD)).status == 0


def test_malformed_identity_is_404(db):
    assert shake("has space", basic("has space")).status == 404
    assert shake("x" * 49, basic("x" * 49)).status == 404


# -- the cost of a refusal tells nothing (one hash, known identity or not) ------------------


@pytest.fixture
def hashes(monkeypatch):
    """Count the password hashes computed (the work a handshake costs)."""
    from stations import credentials

    counted = []
    real = credentials._hasher.verify

    def verify(password, encoded):
        counted.append(encoded)
        return real(password, encoded)

    monkeypatch.setattr(credentials._hasher, "verify", verify)
    return counted


def test_an_unknown_identity_costs_one_hash_like_a_wrong_password(make_station, hashes):
    make_station("CP-KNOWN")
    assert shake("CP-NOBODY", basic("CP-NOBODY")).status == 404
    unknown = len(hashes)
    assert shake("CP-KNOWN", basic("CP-KNOWN", "y" * 20)).status == 401
    assert shake("CP-KNOWN", basic("CP-OTHER")).status == 401  # the wrong user, hashed too
    assert (unknown, len(hashes)) == (1, 3)


def test_the_gate_admits_a_bounded_number_of_handshakes(settings):
    from ocpp_bridge.password_gate import PasswordGate

    settings.OCPP_HANDSHAKE_MAX_PENDING = 2
    gate = PasswordGate()
    assert [gate.try_enter() for _ in range(3)] == [True, True, False]
    gate.leave()
    assert gate.try_enter() is True


def test_passwords_are_hashed_on_the_gates_threads_not_the_frames_pool(make_station):
    import asyncio
    import threading

    from ocpp_bridge.handshake import handshake_decide, handshake_screen, password_work
    from ocpp_bridge.password_gate import PasswordGate

    make_station("CP-THREADS")
    hs = Handshake(
        identity="CP-THREADS", headers=lower(basic("CP-THREADS")), client_ip="127.0.0.1", tls=False
    )
    ran_on = []

    def work(check):
        ran_on.append(threading.current_thread().name)
        return password_work(check)

    step = handshake_screen(hs)
    outcome = asyncio.run(PasswordGate().run(work, step))
    assert handshake_decide(hs, step, outcome).status == 0
    assert ran_on and ran_on[0].startswith("ocpp-password")
