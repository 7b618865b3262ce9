"""The role groups again once the device model exists (operators view it)."""

from django.db import migrations

from accounts.role_migrations import roles_sync_operation


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_roles_after_records_moved"),
        ("stations", "0009_device_model"),
    ]

    operations = [roles_sync_operation(skip_missing=True)]
