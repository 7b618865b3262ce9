"""The staff roles (owner, operator, support, finance) as groups with their permissions
(accounts/roles.py). `manage.py roles_sync` does the same again after new models."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_role_groups(apps, schema_editor):
    from accounts.roles import roles_sync

    # Permissions are normally created after ALL migrations (post_migrate); on a fresh
    # database they do not exist yet, so create them now for every app.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    # roles_sync reads today's role lists; models that moved since (security events,
    # parked messages) are not in this registry yet: 0005 completes the groups
    roles_sync(apps=apps, skip_missing=True)


def remove_role_groups(apps, schema_editor):
    from accounts.roles import ROLE_PERMISSIONS

    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("stations", "0006_location_owner_station_security"),
        ("charging", "0003_session_admin"),
        ("payments", "0007_payment_permissions"),
        ("ocpp_bridge", "0004_alter_parkedmessage_reason"),
        ("maintenance", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
