"""Whether staff need a second factor (ADMIN_REQUIRE_2FA): the admin's login and the staff
socket both ask."""

from __future__ import annotations

from django.conf import settings


def two_factor_required() -> bool:
    return settings.ADMIN_REQUIRE_2FA
