"""Races on PostgreSQL: the limits and the rotation hold when requests arrive together."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import LoginSession, OtpCode
from accounts.tests.support import PHONE_A, login


def race(n: int, call) -> list:
    barrier, results = threading.Barrier(n), [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (scripts/test.sh)")


def test_simultaneous_code_requests_send_one_code(postgres):
    statuses = race(
        5,
        lambda: (
            APIClient()
            .post("/api/v1/auth/otp/request", {"phone": PHONE_A}, format="json")
            .status_code
        ),
    )
    assert sorted(statuses) == [202, 429, 429, 429, 429]
    assert OtpCode.objects.filter(phone=PHONE_A).count() == 1


def test_simultaneous_refresh_of_one_token_counts_as_reuse(postgres):
    refresh = login()["refresh"]
    responses = race(
        2, lambda: APIClient().post("/api/v1/auth/refresh", {"refresh": refresh}, format="json")
    )
    assert sorted(r.status_code for r in responses) == [200, 401]
    assert LoginSession.objects.get().revoke_reason == LoginSession.RevokeReason.REUSE
