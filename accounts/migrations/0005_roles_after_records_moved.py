"""The role groups again after security events and parked messages moved to evpower and
charging (accounts/roles.py names them there now)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def sync_roles(apps, schema_editor):
    from accounts.roles import roles_sync

    # as in 0002: on a fresh database the moved models' permissions may not exist yet
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    # models added since are not in this registry yet: the next roles migration syncs them
    roles_sync(apps=apps, skip_missing=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_client_language_optional"),
        ("ocpp_bridge", "0007_records_move_to_their_owners"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
