"""`manage.py smoke_check` against a real server process: health, the map, a login code as
a dry run (nothing stored, nothing sent) and a charger's boot; exit code 1 when a check
fails."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import OtpCode
from evpower.tests.support.processes import CHARGER_PASSWORD, ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOKEN = "smoke-check-token-0123456789-abcdef"  # noqa: S105 - test credential


@pytest.fixture
def server():
    process = ServerProcess(
        {"SMOKE_CHECK_TOKEN": TOKEN, "THROTTLE_KEY_PREFIX": f"smoke-{uuid.uuid4().hex}"}
    )
    yield process
    process.stop()


def smoke(server, *args: str) -> str:
    out = io.StringIO()
    call_command("smoke_check", "--url", f"http://127.0.0.1:{server.port}", *args, stdout=out)
    return out.getvalue()


def test_a_healthy_deploy_passes_every_check_and_sends_no_code(server, booted_station):
    booted_station("SMOKE-001")

    printed = smoke(
        server, "--token", TOKEN, "--charger", "SMOKE-001", "--charger-password", CHARGER_PASSWORD
    )

    lines = printed.splitlines()
    assert [line.split()[0] for line in lines[:4]] == ["ok"] * 4, printed
    assert "BootNotification Accepted" in printed and "smoke check: all 4 passed" in printed
    assert not OtpCode.objects.exists()  # a dry run: no code stored (nor sent)


def test_a_failing_check_is_exit_code_1_and_a_wrong_token_is_no_dry_run(server, booted_station):
    booted_station("SMOKE-002")
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command(
            "smoke_check",
            "--url",
            f"http://127.0.0.1:{server.port}",
            "--token",
            "not-the-token",
            "--charger",
            "SMOKE-002",
            "--charger-password",
            "wrong-password-000",
            stdout=out,
        )
    assert failed.value.returncode == 1
    printed = out.getvalue()
    assert "FAILED login code (dry run)" in printed and "a code was sent" in printed
    assert "FAILED charger boot" in printed and "401" in printed
    assert printed.splitlines()[0].startswith("ok")  # health still fine
