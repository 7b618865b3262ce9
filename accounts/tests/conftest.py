"""Fixtures of the accounts tests (the login helpers are in support.py)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def api():
    return APIClient()
