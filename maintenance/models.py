"""Models of the maintenance app (backups)."""

from __future__ import annotations

from pathlib import Path

from django.db import models
from django.utils.translation import gettext_lazy as _

from evpower.display_names import display_names


class Backup(models.Model):
    """One backup run: a `pg_dump` archive in BACKUP_DIR (maintenance/backups.py).

    `slot` names the run and is unique: the daily job's slot is its UTC date, so a task
    delivered twice (two beats, a redelivery after a worker was killed) makes one file. A row
    is claimed before any work and stays "running" until its result is written; while a run
    is alive it holds the row's lock, so a second run of the slot skips it, and a run whose
    worker died leaves the row unlocked for the next delivery to finish."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        OK = "ok", _("Ok")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        MANUAL = "manual", _("Manual")

    slot = models.CharField(
        max_length=64, unique=True, help_text=_('the run this is, e.g. "daily:2026-11-22"')
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    file = models.CharField(max_length=500, blank=True, help_text=_("absolute path of the archive"))
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    tables_verified = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("tables with data listed by pg_restore --list")
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # the restore drill (backup_restore_check), when it ran on this archive
    restore_checked_at = models.DateTimeField(null=True, blank=True)
    restore_ok = models.BooleanField(null=True, blank=True)
    restore_detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-finished_at"])]

    def __str__(self) -> str:
        return f"backup {self.slot} ({self.status})"

    @property
    def file_name(self) -> str:
        return Path(self.file).name if self.file else ""


display_names(
    Backup,
    _("backup"),
    _("backups"),
    {
        "slot": _("slot"),
        "trigger": _("trigger"),
        "status": _("status"),
        "file": _("file"),
        "size_bytes": _("size (bytes)"),
        "sha256": _("SHA-256"),
        "tables_verified": _("tables verified"),
        "attempts": _("attempts"),
        "error": _("error"),
        "created_at": _("created at"),
        "started_at": _("started at"),
        "finished_at": _("finished at"),
        "restore_checked_at": _("restore checked at"),
        "restore_ok": _("restore OK"),
        "restore_detail": _("restore detail"),
    },
)
