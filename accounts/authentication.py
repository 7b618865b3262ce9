"""DRF authentication for drivers: `Authorization: Bearer <access token>`.

`request.user` becomes the `Client`, `request.auth` its `LoginSession` (logout uses it).
"""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .errors import TokenRejected
from .tokens import authenticate_access


class ClientJWTAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None  # not ours: the permission answers 401 UNAUTHENTICATED
        if len(parts) != 2:
            raise TokenRejected()
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise TokenRejected() from exc
        return authenticate_access(raw)

    def authenticate_header(self, request) -> str:
        # Present so DRF answers 401 (not 403) to missing or bad tokens.
        return 'Bearer realm="api"'
