"""Security events move to the core (evpower) and parked messages to charging, which own
their meaning. Only Django's picture of the models changes: the tables keep their names
(db_table) and rows. The two content types are renamed with them, so permissions, role
groups, admin history and audit entries keep pointing at the same models."""

from django.db import migrations

MOVED = {"securityevent": "evpower", "parkedmessage": "charging"}


def rename_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for model, app_label in MOVED.items():
        if not content_type.objects.filter(app_label=app_label, model=model).exists():
            content_type.objects.filter(app_label="ocpp_bridge", model=model).update(
                app_label=app_label
            )


def restore_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for model, app_label in MOVED.items():
        if not content_type.objects.filter(app_label="ocpp_bridge", model=model).exists():
            content_type.objects.filter(app_label=app_label, model=model).update(
                app_label="ocpp_bridge"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("ocpp_bridge", "0006_parked_implausible_meter"),
        ("contenttypes", "0002_remove_content_type_name"),
        # their new homes hold them first (a proxy in charging is based on parked messages)
        ("charging", "0006_parkedmessage"),
        ("evpower", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ParkedMessage"),
                migrations.DeleteModel(name="SecurityEvent"),
            ],
        ),
        migrations.RunPython(rename_content_types, restore_content_types),
    ]
