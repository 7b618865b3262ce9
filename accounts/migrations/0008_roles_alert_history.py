"""The role groups again once the alert history exists (operators view it)."""

from django.db import migrations

from accounts.role_migrations import roles_sync_operation


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_roles_charger_reports"),
        ("evpower", "0002_alert_history"),
    ]

    operations = [roles_sync_operation()]
