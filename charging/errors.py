"""Errors of the charging services: `ApiError`s with stable codes (docs/product.md §3), so an API
view that lets one through renders the standard envelope in the client's language."""

from __future__ import annotations

from rest_framework import status

from evpower.api.errors import ApiError


class ChargingError(ApiError):
    code_name = "ERROR"
    http_status = status.HTTP_409_CONFLICT

    def __init__(self, details: dict | None = None):
        super().__init__(self.code_name, status_code=self.http_status, details=details)


class ClientBlocked(ChargingError):
    code_name = "CLIENT_BLOCKED"
    http_status = status.HTTP_403_FORBIDDEN


class AccountPendingDeletion(ChargingError):
    code_name = "ACCOUNT_PENDING_DELETION"
    http_status = status.HTTP_403_FORBIDDEN


class StationNotFound(ChargingError):
    code_name = "NOT_FOUND"
    http_status = status.HTTP_404_NOT_FOUND


class StationUnavailable(ChargingError):
    """The operator took the station out of service (inactive, maintenance)."""

    code_name = "STATION_UNAVAILABLE"


class StationOffline(ChargingError):
    code_name = "STATION_OFFLINE"


class StationUnreachable(ChargingError):
    """The station is connected, but the command could not reach the process holding its
    socket (the channel layer is down, or this process has none shared with it). 503: a
    retry may work once it is back; nothing was held."""

    code_name = "STATION_UNREACHABLE"
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE


class ConnectorOccupied(ChargingError):
    code_name = "CONNECTOR_OCCUPIED"


class ConnectorUnavailable(ChargingError):
    """Faulted, Unavailable or Reserved for someone else: not a place to start."""

    code_name = "CONNECTOR_UNAVAILABLE"


class SessionAlreadyActive(ChargingError):
    code_name = "SESSION_ALREADY_ACTIVE"


class LimitTooLow(ChargingError):
    """An amount limit below CHARGING_MIN_HOLD: the session fee alone would end it."""

    code_name = "LIMIT_TOO_LOW"
    http_status = status.HTTP_400_BAD_REQUEST


class TariffNotAvailable(ChargingError):
    code_name = "TARIFF_NOT_AVAILABLE"


class StartRejected(ChargingError):
    code_name = "START_REJECTED"


class StationTimeout(ChargingError):
    """The charger did not answer in time. 504: a retry (same Idempotency-Key included)
    is a fresh attempt — the failed session released its hold."""

    code_name = "STATION_TIMEOUT"
    http_status = status.HTTP_504_GATEWAY_TIMEOUT


class StopFailed(ChargingError):
    """The charger refused or did not take the stop; the session goes on."""

    code_name = "STOP_FAILED"


class SessionNotFound(ChargingError):
    code_name = "NOT_FOUND"
    http_status = status.HTTP_404_NOT_FOUND
