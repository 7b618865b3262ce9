"""Errors raised by the wallet services. They are `ApiError`s, so an API view that lets one
through renders the standard envelope; admin actions and other services catch them."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import status

from evpower.api.errors import ApiError


class WalletError(ApiError):
    code_name = "ERROR"
    http_status = status.HTTP_400_BAD_REQUEST

    def __init__(self, details: dict | None = None):
        super().__init__(self.code_name, status_code=self.http_status, details=details)


class InsufficientBalance(WalletError):
    code_name = "INSUFFICIENT_BALANCE"
    http_status = status.HTTP_402_PAYMENT_REQUIRED

    def __init__(self, *, required: Decimal, available: Decimal, currency: str):
        super().__init__({"required": str(required), "available": str(available),
                          "currency": currency})


class IdempotencyConflict(WalletError):
    """The key was used before for a different operation (kind, wallet, hold or amount)."""

    code_name = "IDEMPOTENCY_CONFLICT"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY

    def __init__(self, key: str):
        super().__init__({"key": key})


class HoldClosed(WalletError):
    """Capturing a hold that was already captured or released."""

    code_name = "HOLD_CLOSED"
    http_status = status.HTTP_409_CONFLICT

    def __init__(self, hold_id: int, hold_status: str):
        super().__init__({"hold": hold_id, "status": hold_status})


class RefundExceedsCharge(WalletError):
    code_name = "REFUND_EXCEEDS_CHARGE"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY

    def __init__(self, *, requested: Decimal, refundable: Decimal):
        super().__init__({"requested": str(requested), "refundable": str(refundable)})


class InvalidAmount(WalletError):
    code_name = "INVALID_AMOUNT"

    def __init__(self, reason: str):
        super().__init__({"reason": reason})


class AdjustmentNotAllowed(WalletError):
    """An adjustment needs a reason and a staff author."""

    code_name = "ADJUSTMENT_NOT_ALLOWED"
    http_status = status.HTTP_403_FORBIDDEN

    def __init__(self, reason: str):
        super().__init__({"reason": reason})
