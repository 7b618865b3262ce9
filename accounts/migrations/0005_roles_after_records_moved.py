"""The role groups again after security events and parked messages moved to evpower and
charging (accounts/roles.py names them there now)."""

from django.db import migrations

from accounts.role_migrations import roles_sync_operation


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_client_language_optional"),
        ("ocpp_bridge", "0007_records_move_to_their_owners"),
    ]

    operations = [roles_sync_operation(skip_missing=True)]
