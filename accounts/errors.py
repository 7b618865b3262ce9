"""Error types raised by accounts services; they render as the API's error envelope.

They subclass DRF exceptions on purpose: an `AuthenticationFailed` makes DRF answer 401 with
`WWW-Authenticate`, a `Throttled` gets a `Retry-After` header from the shared handler.
Admin actions and commands catch `ApiError` like any other exception.
"""

from __future__ import annotations

from rest_framework import exceptions, status

from evpower.api.errors import ApiError

__all__ = ["ApiError", "RateLimited", "TokenRejected"]


class TokenRejected(ApiError, exceptions.AuthenticationFailed):
    def __init__(self, code: str = "TOKEN_INVALID"):
        super().__init__(code, status_code=status.HTTP_401_UNAUTHORIZED)


class RateLimited(ApiError, exceptions.Throttled):
    def __init__(self, seconds: float):
        # int(wait) + 1 is what the shared handler puts in Retry-After; keep details equal.
        super().__init__(
            "RATE_LIMITED",
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            details={"retry_after": int(seconds) + 1},
        )
        self.wait = seconds
