"""The role groups again once stations' events and reports exist (operators and owners
view them)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def sync_roles(apps, schema_editor):
    from accounts.roles import roles_sync

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_sync(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_roles_device_model"),
        ("stations", "0010_charger_reports"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
