"""State only: the model moved here from ocpp_bridge; its table keeps its name and rows
(ocpp_bridge/migrations/0007 drops it from there)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('ocpp_bridge', '0006_parked_implausible_meter'),
        ('stations', '0006_location_owner_station_security'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.CreateModel(
            name='SecurityEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('identity', models.CharField(max_length=48)),
                ('source', models.CharField(choices=[('charger', 'reported by the charger'), ('platform', 'seen by the platform')], max_length=10)),
                ('kind', models.CharField(max_length=50)),
                ('tech_info', models.TextField(blank=True)),
                ('remote_addr', models.CharField(blank=True, max_length=64)),
                ('occurred_at', models.DateTimeField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('station', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='security_events', to='stations.station')),
            ],
            options={
                'db_table': 'ocpp_bridge_securityevent',
                'ordering': ['-occurred_at'],
            },
        ),
        ]),
    ]
