"""`client_block`: block / unblock a driver from the command line through the same services
as the admin's actions (blocking revokes every login at once). Logins are real (OTP through
the in-memory SMS backend)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError
from django.utils import timezone

from accounts.models import Client, LoginSession
from accounts.tests.factories import ClientFactory
from accounts.tests.support import PHONE_A, PHONE_B, assert_error, authed, login
from evpower.tests.support.commands import Terminal, command_fails, run_command

pytestmark = pytest.mark.django_db


def run(*args, **options) -> str:
    return run_command("client_block", *args, **options)[0]


def fails(*args, **options) -> CommandError:
    return command_fails("client_block", *args, **options)


def live_logins(client_id: int) -> int:
    return LoginSession.objects.filter(client_id=client_id, revoked_at__isnull=True).count()


def test_blocking_needs_confirmation_and_a_dry_run_changes_nothing():
    tokens = login(phone=PHONE_A)
    client_id = tokens["client"]["id"]
    out = run(PHONE_A, reason="fraud", dry_run=True)
    assert f"client {client_id} ({PHONE_A}" in out and "active, 1 active login session(s)" in out
    assert "would: set active → blocked and revoke 1 login session(s)" in out
    error = fails(PHONE_A, reason="fraud")
    assert (error.returncode, error.code) == (4, "ABORTED")
    assert fails(PHONE_A, reason="fraud", stdin=Terminal("nope\n")).returncode == 4
    assert Client.objects.get(pk=client_id).status == Client.Status.ACTIVE
    assert live_logins(client_id) == 1
    assert authed(tokens["access"]).get("/api/v1/me").status_code == 200


def test_blocking_revokes_every_login_and_unblocking_restores(caplog):
    first, second = login(phone=PHONE_A), login(phone=PHONE_A)
    other = login(phone=PHONE_B)
    client_id = first["client"]["id"]
    out = run(PHONE_A, reason="chargeback fraud", stdin=Terminal("yes\n"))
    assert f"client {client_id}: blocked; 2 login session(s) revoked" in out
    assert Client.objects.get(pk=client_id).status == Client.Status.BLOCKED
    assert live_logins(client_id) == 0
    for tokens in (first, second):
        assert_error(authed(tokens["access"]).get("/api/v1/me"), 401, "TOKEN_INVALID")
    assert authed(other["access"]).get("/api/v1/me").status_code == 200  # only that client
    assert any(
        "blocked by support:" in r.getMessage() and "chargeback fraud" in r.getMessage()
        for r in caplog.records
    )

    out = run(str(client_id), unblock=True, reason="resolved with the bank", yes=True)
    assert f"client {client_id}: active" in out
    assert Client.objects.get(pk=client_id).status == Client.Status.ACTIVE
    assert authed(login(phone=PHONE_A)["access"]).get("/api/v1/me").status_code == 200


def test_unblocking_cancels_a_pending_deletion():
    client = ClientFactory(
        phone=PHONE_A, status=Client.Status.PENDING_DELETION, deletion_requested_at=timezone.now()
    )
    run(PHONE_A, unblock=True, reason="changed their mind", yes=True)
    client.refresh_from_db()
    assert (client.status, client.deletion_requested_at) == (Client.Status.ACTIVE, None)


def test_errors_exit_with_their_codes():
    deleted = ClientFactory(phone="deleted:1", status=Client.Status.DELETED)
    error = fails(str(deleted.pk), reason="x", yes=True)
    assert (error.returncode, error.code) == (1, "CLIENT_DELETED")
    assert Client.objects.get(pk=deleted.pk).status == Client.Status.DELETED
    assert fails("+996700999999", reason="x", yes=True).returncode == 3
    assert fails("999999", reason="x", yes=True).returncode == 3
    assert fails("someone", reason="x", yes=True).returncode == 2
    with pytest.raises(CommandError, match="required: --reason"):
        run(PHONE_A, yes=True)
