"""Stations' row of /health/detailed (added at start, stations/apps.py)."""

from __future__ import annotations

from typing import Any

from .selectors import stations_online


def chargers() -> dict[str, Any]:
    return {"ok": True, "connected": stations_online().count()}
