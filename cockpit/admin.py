"""The cockpit's admin pages that join several apps' records (found by the admin's
autodiscovery)."""

from . import client_admin, session_admin, station_admin  # noqa: F401 - they register their pages
