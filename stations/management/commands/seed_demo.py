"""Demo data for a laptop: one location, station DEMO-001 with a known password, two demo
clients with 1000 som each — a driver for the app (DEMO_PHONE) and the owner of the id
tag DEMO-TAG-1 that the simulated charger charges with (so its sessions are billed and the
app driver stays free to start one) — and, in DEBUG only, an admin/admin superuser. Safe to
run again."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Client
from payments.wallet import wallet_credit_topup
from stations.models import IdTag, Location, Station, TariffPlan, TariffRule
from stations.services import station_create

DEMO_IDENTITY = "DEMO-001"
DEMO_PASSWORD = "demo-password-0001"  # noqa: S105 - documented demo credential
DEMO_TAG = "DEMO-TAG-1"
DEMO_PHONE = "+996700000001"
DEMO_CARD_OWNER_PHONE = "+996700000002"
DEMO_BALANCE = "1000.00"


class Command(BaseCommand):
    help = "Create demo data (idempotent). Refuses to run in production."

    def handle(self, *args, **opts):
        if settings.IS_PRODUCTION:
            raise CommandError("seed_demo is for development machines only")
        Location.objects.get_or_create(
            name="Bishkek Ala-Too Square",
            defaults={"address": "Ala-Too Square", "city": "Bishkek",
                      "latitude": "42.876500", "longitude": "74.603700"})
        if not Station.objects.filter(identity=DEMO_IDENTITY).exists():
            station_create(identity=DEMO_IDENTITY, location_name="Bishkek Ala-Too Square",
                           connectors=2, password=DEMO_PASSWORD)
        clients = {}
        for phone, name in ((DEMO_PHONE, "Demo driver"), (DEMO_CARD_OWNER_PHONE, "Demo fleet")):
            clients[phone], _ = Client.objects.get_or_create(phone=phone, defaults={"name": name})
            # one fixed key per client: running the seed again credits nothing more
            wallet_credit_topup(client=clients[phone], amount=DEMO_BALANCE,
                                payment_ref="demo-seed", key=f"demo-seed:{phone}")
        IdTag.objects.get_or_create(id_tag=DEMO_TAG, defaults={
            "note": "demo card", "client": clients[DEMO_CARD_OWNER_PHONE]})
        plan, created = TariffPlan.objects.get_or_create(
            name="Standard", defaults={"is_default": True, "description": "demo tariff"})
        if created:
            TariffRule.objects.create(plan=plan, name="day", price_per_kwh="16.00",
                                      session_fee="10.00", idle_fee_per_minute="2.00",
                                      idle_grace_minutes=10)
        user_model = get_user_model()
        if settings.DEBUG and not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", "admin")
        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready: station {DEMO_IDENTITY} / password {DEMO_PASSWORD}, "
            f"id tag {DEMO_TAG}, app driver {DEMO_PHONE} ({DEMO_BALANCE} som)"
            + (", admin/admin" if settings.DEBUG else "")))
