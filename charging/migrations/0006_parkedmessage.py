"""State only: the model moved here from ocpp_bridge; its table keeps its name and rows
(ocpp_bridge/migrations/0007 drops it from there)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ocpp_bridge', '0006_parked_implausible_meter'),
        ('charging', '0005_stop_reason_unreachable'),
        ('stations', '0006_location_owner_station_security'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            # the billing review queue is a proxy of parked messages: it follows them
            migrations.DeleteModel(name='BillingReview'),
            migrations.CreateModel(
            name='ParkedMessage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('action', models.CharField(max_length=50)),
                ('reason', models.CharField(choices=[('unknown_transaction', 'Unknown Transaction'), ('already_stopped', 'Already Stopped'), ('stop_before_start', 'Stop Before Start'), ('meter_backwards', 'Meter Backwards'), ('future_timestamp', 'Future Timestamp'), ('superseded_transaction', 'Superseded Transaction'), ('id_tag_not_accepted', 'Id Tag Not Accepted'), ('reservation_conflict', 'Reservation Conflict'), ('unbilled_transaction', 'Unbilled Transaction'), ('stop_after_settlement', 'Stop After Settlement'), ('implausible_meter', 'Implausible Meter Reading'), ('value_out_of_range', 'Value Out Of Range')], max_length=30)),
                ('detail', models.CharField(blank=True, max_length=300)),
                ('transaction_id', models.IntegerField(blank=True, null=True)),
                ('payload', models.JSONField()),
                ('received_at', models.DateTimeField(auto_now_add=True)),
                ('resolved_at', models.DateTimeField(blank=True, null=True)),
                ('resolution_note', models.CharField(blank=True, max_length=300)),
                ('resolved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                ('station', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='parked_messages', to='stations.station')),
            ],
            options={
                'db_table': 'ocpp_bridge_parkedmessage',
                'ordering': ['-received_at'],
            },
        ),
        migrations.CreateModel(
            name='BillingReview',
            fields=[],
            options={
                'verbose_name': 'billing review item',
                'verbose_name_plural': 'billing review queue',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('charging.parkedmessage',),
        ),
        ]),
    ]
