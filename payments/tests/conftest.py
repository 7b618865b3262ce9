"""Fixtures of the wallet tests: clients and a staff user (helpers: support.py)."""

from __future__ import annotations

import pytest

from accounts.tests.factories import StaffUserFactory

from .support import new_client


@pytest.fixture
def make_client(db):
    return new_client


@pytest.fixture
def staff_user(db):
    return StaffUserFactory(username="finance", email="fin@example.kg")
