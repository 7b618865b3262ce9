"""The role groups again once the device model exists (operators view it)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def sync_roles(apps, schema_editor):
    from accounts.roles import roles_sync

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_sync(apps=apps, skip_missing=True)  # its registry predates later models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_roles_after_records_moved"),
        ("stations", "0009_device_model"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
