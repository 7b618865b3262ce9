"""The default permission of the driver API.

Decision on pending_deletion: such a client may still read (GET/HEAD/OPTIONS) and log out,
nothing else (no charging, top-ups or profile changes). In practice requesting deletion
revokes every session, so this only matters for a status set by staff; it keeps the rule
in one place. Blocked and deleted clients never get this far: authentication refuses them.
"""

from __future__ import annotations

from rest_framework import status
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .errors import ApiError
from .models import Client


class IsActiveClient(BasePermission):
    def has_permission(self, request, view) -> bool:
        client = request.user
        if not isinstance(client, Client):
            return False  # DRF answers 401 UNAUTHENTICATED
        if client.status == Client.Status.ACTIVE:
            return True
        if client.status == Client.Status.PENDING_DELETION and (
            request.method in SAFE_METHODS or getattr(view, "allow_pending_deletion", False)
        ):
            return True
        code = (
            "ACCOUNT_PENDING_DELETION"
            if client.status == Client.Status.PENDING_DELETION
            else "CLIENT_BLOCKED"
        )
        raise ApiError(code, status_code=status.HTTP_403_FORBIDDEN)
