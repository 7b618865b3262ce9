"""Stored answers to HTTP requests sent with an `Idempotency-Key` (payments/idempotency.py).

One row per (client, key): claimed by an INSERT under the unique constraint before the view
runs (state in_progress), then filled with the first answer (state completed) and replayed
for every retry with the same request fingerprint until it expires (IDEMPOTENCY_KEY_TTL,
7 days; `idempotency_keys_purge` deletes expired rows). Kept in payments because the
money-moving endpoints (start, stop, top-up) are its users; no other payments model
depends on it.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from evpower.display_names import display_names


class IdempotencyKey(models.Model):
    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In Progress")
        COMPLETED = "completed", _("Completed")

    client = models.ForeignKey(
        "accounts.Client", on_delete=models.CASCADE, related_name="idempotency_keys"
    )
    key = models.CharField(max_length=255)
    # sha256 of method, path and canonical JSON body: same key + other request → 422
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    # who holds the in-progress claim: only that request may store or release it (a slow
    # request whose claim was taken over after a crash-timeout cannot overwrite the answer)
    claim = models.UUIDField()
    created_at = models.DateTimeField()  # first claim: the key expires TTL after it
    locked_at = models.DateTimeField()  # last claim or takeover
    completed_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.BinaryField(default=b"", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotency_key_per_client"),
            models.CheckConstraint(
                condition=models.Q(state="in_progress")
                | models.Q(completed_at__isnull=False, response_status__isnull=False),
                name="idempotency_key_completed_has_response",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_created")]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.key} ({self.state})"


display_names(
    IdempotencyKey,
    _("idempotency key"),
    _("idempotency keys"),
    {
        "client": _("client"),
        "key": _("key"),
        "fingerprint": _("fingerprint"),
        "method": _("method"),
        "path": _("path"),
        "state": _("state"),
        "claim": _("claim"),
        "created_at": _("created at"),
        "locked_at": _("locked at"),
        "completed_at": _("completed at"),
        "response_status": _("response status"),
        "response_headers": _("response headers"),
        "response_body": _("response body"),
    },
)
