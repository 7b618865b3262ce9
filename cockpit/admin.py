"""The cockpit's admin pages that join several apps' records (found by the admin's
autodiscovery)."""

from . import station_admin  # noqa: F401 - registers the station page
