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
        super().__init__(
            {"required": str(required), "available": str(available), "currency": currency}
        )


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


# -- top-ups (payments/topups.py) ---------------------------------------------------------


class TopupRefused(WalletError):
    """The client may not top up (blocked, pending deletion): the code says which."""

    http_status = status.HTTP_403_FORBIDDEN

    def __init__(self, code: str):
        self.code_name = code
        super().__init__()


class TopupAmountOutOfRange(WalletError):
    code_name = "TOPUP_AMOUNT_OUT_OF_RANGE"

    def __init__(self, *, minimum: Decimal, maximum: Decimal):
        super().__init__({"minimum": str(minimum), "maximum": str(maximum)})


class ProviderNotAvailable(WalletError):
    """Unknown, not configured here, or not for this wallet's currency."""

    code_name = "PROVIDER_NOT_AVAILABLE"
    http_status = status.HTTP_409_CONFLICT

    def __init__(self, provider: str, reason: str = "not configured"):
        super().__init__({"provider": provider, "reason": reason})


class PaymentProviderError(WalletError):
    """The provider could not be reached or failed: try again later or another one."""

    code_name = "PAYMENT_PROVIDER_ERROR"
    http_status = status.HTTP_502_BAD_GATEWAY

    def __init__(self, provider: str, detail: str = ""):
        super().__init__({"provider": provider, **({"detail": detail} if detail else {})})


class AmountMismatch(WalletError):
    code_name = "AMOUNT_MISMATCH"

    def __init__(self, *, expected: Decimal, got: Decimal):
        super().__init__({"expected": str(expected), "got": str(got)})


class ProviderTransactionMismatch(WalletError):
    code_name = "PROVIDER_TRANSACTION_MISMATCH"
    http_status = status.HTTP_409_CONFLICT

    def __init__(self, known: str, got: str):
        super().__init__({"known": known, "got": got})


class PaymentNotFound(WalletError):
    code_name = "NOT_FOUND"
    http_status = status.HTTP_404_NOT_FOUND

    def __init__(self, payment_id):
        super().__init__({"payment": payment_id})


class PaymentNotOpen(WalletError):
    code_name = "PAYMENT_NOT_OPEN"
    http_status = status.HTTP_409_CONFLICT

    def __init__(self, payment_status: str):
        super().__init__({"status": payment_status})


class PaymentNotRefundable(WalletError):
    code_name = "PAYMENT_NOT_REFUNDABLE"
    http_status = status.HTTP_409_CONFLICT

    def __init__(self, payment_status: str):
        super().__init__({"status": payment_status})
