"""Drivers (clients), their logins, one-time codes, favourites and push devices.

Staff are Django users; a Client is never a Django user. DRF still treats a Client as
`request.user` because it answers `is_authenticated` like one.
"""

from __future__ import annotations

import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from evpower.display_names import display_names

from .status_models import ClientStatusChange  # noqa: F401 - who blocked / unblocked, why

# E.164: "+", country code not starting with 0, at most 15 digits in all.
E164_REGEX = r"^\+[1-9][0-9]{6,14}$"
phone_validator = RegexValidator(
    E164_REGEX, _("Enter the phone in E.164 form, e.g. +996700123456.")
)


class Client(models.Model):
    class Language(models.TextChoices):
        RU = "ru", "Русский"
        KY = "ky", "Кыргызча"
        EN = "en", "English"

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("client status", "Active")
        BLOCKED = "blocked", pgettext_lazy("client status", "Blocked")
        PENDING_DELETION = "pending_deletion", pgettext_lazy("client status", "Pending Deletion")
        DELETED = "deleted", pgettext_lazy("client status", "Deleted")

    # A deleted client's phone is replaced by a placeholder ("deleted:<id>"), which frees the
    # number for a new sign-up; the check constraint allows that form only for deleted rows.
    phone = models.CharField(max_length=32, unique=True, validators=[phone_validator])
    name = models.CharField(max_length=150, blank=True)
    email = models.EmailField(blank=True)
    # blank: not chosen — the API answers in the app's Accept-Language, and texts sent
    # outside a request (SMS, push) use CLIENT_DEFAULT_LANGUAGE
    language = models.CharField(max_length=2, choices=Language.choices, blank=True, default="")
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    deletion_requested_at = models.DateTimeField(null=True, blank=True)
    anonymised_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="client_phone_e164_unless_deleted",
                condition=Q(phone__regex=E164_REGEX) | Q(status="deleted"),
            ),
            models.CheckConstraint(
                name="client_pending_deletion_has_date",
                condition=~Q(status="pending_deletion") | Q(deletion_requested_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phone} ({self.name})" if self.name else self.phone

    # DRF (and the language lookup in evpower.api.messages) treat request.user as a user.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class LoginSession(models.Model):
    """One login: a family of refresh tokens. Its id is the `sid` claim of every token in it.

    Only the newest refresh token of a family is valid (`refresh_jti`); an older one presented
    again means it was copied, so the whole family is revoked (reuse detection).
    """

    class RevokeReason(models.TextChoices):
        LOGOUT = "logout", pgettext_lazy("revoke reason", "Logout")
        LOGOUT_ALL = "logout_all", pgettext_lazy("revoke reason", "Logout All")
        REUSE = "reuse", pgettext_lazy("revoke reason", "Reuse")
        BLOCKED = "blocked", pgettext_lazy("revoke reason", "Blocked")
        DELETION = "deletion", pgettext_lazy("revoke reason", "Deletion")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="login_sessions")
    refresh_jti = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()  # of the newest refresh token
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=20, choices=RevokeReason.choices, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["client", "revoked_at"])]

    def __str__(self) -> str:
        return f"session {self.id} of client {self.client_id}"


class UsedRefreshToken(models.Model):
    """The jti of every refresh token already exchanged (audit trail of rotation)."""

    jti = models.CharField(max_length=64, unique=True)
    session = models.ForeignKey(LoginSession, on_delete=models.CASCADE, related_name="used_tokens")
    used_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.jti


class OtpCode(models.Model):
    """A one-time login code. Only its HMAC is stored; rows double as the rate-limit ledger."""

    class CloseReason(models.TextChoices):
        VERIFIED = "verified", pgettext_lazy("one-time code", "Verified")
        ATTEMPTS = "attempts", pgettext_lazy("one-time code", "Attempts")
        SUPERSEDED = "superseded", pgettext_lazy("one-time code", "Superseded")
        DELIVERY_FAILED = "delivery_failed", pgettext_lazy("one-time code", "Delivery Failed")

    phone = models.CharField(max_length=32, db_index=True)
    code_hash = models.CharField(max_length=64)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=20, choices=CloseReason.choices, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["ip", "created_at"])]

    def __str__(self) -> str:
        return f"code for {self.phone[:4]}… at {self.created_at:%Y-%m-%d %H:%M}"


class Favourite(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="favourites")
    location = models.ForeignKey(
        "stations.Location", on_delete=models.CASCADE, related_name="favourited_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["client", "location"], name="favourite_once_per_client")
        ]

    def __str__(self) -> str:
        return f"{self.client_id} → {self.location_id}"


class Device(models.Model):
    """A push target. The token (FCM registration token or Web Push endpoint) is unique:
    a phone that changes hands belongs to whoever registered it last."""

    class Kind(models.TextChoices):
        FCM = "fcm", _("Fcm")
        WEBPUSH = "webpush", _("Webpush")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="devices")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    token = models.CharField(max_length=1024, unique=True)
    subscription = models.JSONField(null=True, blank=True)  # Web Push keys (p256dh, auth)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} device of client {self.client_id}"


display_names(
    Client,
    _("client"),
    _("clients"),
    {
        "phone": _("phone"),
        "name": pgettext_lazy("person", "name"),
        "email": _("email"),
        "language": _("language"),
        "status": _("status"),
        "deletion_requested_at": _("deletion requested at"),
        "anonymised_at": _("anonymised at"),
        "created_at": _("created at"),
    },
)
display_names(
    LoginSession,
    _("login session"),
    _("login sessions"),
    {
        "id": _("ID"),
        "client": _("client"),
        "refresh_jti": _("refresh token ID"),
        "created_at": _("created at"),
        "refreshed_at": _("refreshed at"),
        "expires_at": _("expires at"),
        "revoked_at": _("revoked at"),
        "revoke_reason": _("revoke reason"),
        "ip": _("IP address"),
        "user_agent": _("user agent"),
    },
)
display_names(
    UsedRefreshToken,
    _("used refresh token"),
    _("used refresh tokens"),
    {
        "jti": _("token ID"),
        "session": _("login session"),
        "used_at": _("used at"),
    },
)
display_names(
    OtpCode,
    _("one-time code"),
    _("one-time codes"),
    {
        "phone": _("phone"),
        "code_hash": _("code hash"),
        "ip": _("IP address"),
        "created_at": _("created at"),
        "expires_at": _("expires at"),
        "attempts": _("attempts"),
        "closed_at": _("closed at"),
        "close_reason": _("close reason"),
    },
)
display_names(
    Favourite,
    _("favourite"),
    _("favourites"),
    {
        "client": _("client"),
        "location": _("location"),
        "created_at": _("created at"),
    },
)
display_names(
    Device,
    _("device"),
    _("devices"),
    {
        "client": _("client"),
        "kind": _("kind"),
        "token": _("token"),
        "subscription": _("subscription"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
)
