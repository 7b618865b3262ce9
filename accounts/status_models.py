"""Who blocked or unblocked a client, when, and why.

A client's `status` says what the account is; `ClientStatusChange` says how it got there:
one row per staff decision (block, unblock / restore), written only by
`services.client_block` / `client_unblock`, whoever calls them (the admin's client page,
`manage.py client_block`). The newest row of a blocked client is why it is blocked. The
audit log also sees the status change, but not the reason, and has no staff user for a
command run from a shell; this table has both, for every path.

Imported by `accounts/models.py` (the app's models module).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from evpower.display_names import display_names


class ClientStatusChange(models.Model):
    client = models.ForeignKey(
        "accounts.Client", on_delete=models.CASCADE, related_name="status_changes"
    )
    status_before = models.CharField(max_length=20)  # a Client.Status value
    status = models.CharField(max_length=20)  # a Client.Status value: what it became
    reason = models.CharField(max_length=300)
    # "staff:<username>" from the admin, "support:<OS user>" from a command: a command has
    # no staff user, and the name stays readable after the user is removed
    by = models.CharField(max_length=150)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["client", "-id"])]
        constraints = [
            models.CheckConstraint(name="client_status_change_has_reason", condition=~Q(reason="")),
        ]

    def __str__(self) -> str:
        return f"client {self.client_id}: {self.status_before} → {self.status}"


display_names(
    ClientStatusChange,
    _("client status change"),
    _("client status changes"),
    {
        "client": _("client"),
        "status_before": _("status before"),
        "status": _("status"),
        "reason": _("reason"),
        "by": _("by"),
        "author": _("staff user"),
        "created_at": _("when"),
    },
)
