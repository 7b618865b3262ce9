"""Factories for wallet tests: clients and staff users, plus the accounts login fixtures."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Client
from accounts.tests.conftest import fresh_throttle_counters, sms_outbox  # noqa: F401 - fixtures
from payments.selectors import ledger_invariant_violations, unbalanced_transactions

_phones = itertools.count(1)


def new_client(**kwargs) -> Client:
    return Client.objects.create(phone=f"+99655{next(_phones):07d}", **kwargs)


@pytest.fixture
def make_client(db):
    return new_client


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(
        "finance", "fin@example.kg", "pw-0123456789", is_staff=True
    )


def assert_ledger_consistent() -> None:
    assert (
        list(
            ledger_invariant_violations().values_list(
                "pk",
                "balance",
                "posted_balance",
                "held",
                "posted_held",
                "debt",
                "posted_debt",
                "open_holds",
            )
        )
        == []
    )
    assert list(unbalanced_transactions().values_list("pk", "total")) == []
