"""The role groups again once stations' events and reports exist (operators and owners
view them)."""

from django.db import migrations

from accounts.role_migrations import roles_sync_operation


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_roles_device_model"),
        ("stations", "0010_charger_reports"),
    ]

    operations = [roles_sync_operation(skip_missing=True)]
