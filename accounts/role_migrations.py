"""The data migration that brings the role groups up to date (accounts/roles.py), written
once: each migration that adds a model a role may see ends the chain with it."""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations


def roles_sync_operation(*, skip_missing: bool = False) -> migrations.RunPython:
    """`skip_missing`: for a migration whose registry predates models roles.py names (every
    one but the latest): what it cannot see yet, the next one syncs."""

    def sync_roles(apps, schema_editor):
        from accounts.roles import roles_sync

        # on a fresh database the permissions of models created in this run may not
        # exist yet: Django makes them after the last migration
        for app_config in apps.get_app_configs():
            app_config.models_module = True
            create_permissions(app_config, apps=apps, verbosity=0)
            app_config.models_module = None
        roles_sync(apps=apps, skip_missing=skip_missing)

    return migrations.RunPython(sync_roles, migrations.RunPython.noop)
