"""Demo data for a laptop: one location, station DEMO-001 (two Type2 connectors of 7.4 kW)
with a known password, demo clients — a driver for the app (DEMO_PHONE, 1000 som), the owner
of the id tag DEMO-TAG-1 that the simulated charger charges with on connector 1 (so its
sessions are billed and connector 2 stays free for the app driver), and a driver with a sum
wallet for the Payme and Click sandboxes — and, in DEBUG only, an admin/admin superuser.
Safe to run again: nothing is credited twice, and what it prints is what the wallets hold
now (earlier demo charging included)."""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Client
from payments.models import Wallet
from payments.money import money_text
from payments.selectors import wallet_summary
from payments.wallet import wallet_credit_topup
from stations.services import station_create
from stations.station_models import Connector, IdTag, Location, Station
from stations.tariff_models import TariffPlan, TariffRule

DEMO_IDENTITY = "DEMO-001"
DEMO_PASSWORD = "demo-password-0001"  # noqa: S105 - documented demo credential
DEMO_TAG = "DEMO-TAG-1"
DEMO_PHONE = "+996700000001"
DEMO_CARD_OWNER_PHONE = "+996700000002"
DEMO_SUM_PHONE = "+998900000001"  # Uzbekistan: a wallet in sum, for Payme and Click
DEMO_BALANCE = "1000.00"
DEMO_POWER_KW = Decimal("7.40")  # what the simulated charger draws at most (single-phase AC)


class Command(BaseCommand):
    help = "Create demo data (idempotent). Refuses to run in production."

    def handle(self, *args, **opts):
        if settings.IS_PRODUCTION:
            raise CommandError("seed_demo is for development machines only")
        Location.objects.get_or_create(
            name="Bishkek Ala-Too Square",
            defaults={
                "address": "Ala-Too Square",
                "city": "Bishkek",
                "latitude": "42.876500",
                "longitude": "74.603700",
            },
        )
        if not Station.objects.filter(identity=DEMO_IDENTITY).exists():
            station_create(
                identity=DEMO_IDENTITY,
                location_name="Bishkek Ala-Too Square",
                connectors=2,
                password=DEMO_PASSWORD,
            )
        station = Station.objects.get(identity=DEMO_IDENTITY)
        # a power for the map's filters and the driver's "up to 7.4 kW"; operators' edits stay
        Station.objects.filter(pk=station.pk, max_power_kw__isnull=True).update(
            max_power_kw=DEMO_POWER_KW
        )
        Connector.objects.filter(station=station, max_power_kw__isnull=True).update(
            max_power_kw=DEMO_POWER_KW
        )
        clients = {}
        for phone, name in ((DEMO_PHONE, "Demo driver"), (DEMO_CARD_OWNER_PHONE, "Demo fleet")):
            clients[phone], _ = Client.objects.get_or_create(phone=phone, defaults={"name": name})
            # one fixed key per client: running the seed again credits nothing more
            wallet_credit_topup(
                client=clients[phone],
                amount=DEMO_BALANCE,
                payment_ref="demo-seed",
                key=f"demo-seed:{phone}",
            )
        clients[DEMO_SUM_PHONE], _ = Client.objects.get_or_create(
            phone=DEMO_SUM_PHONE, defaults={"name": "Demo driver (Tashkent)"}
        )
        Wallet.objects.get_or_create(client=clients[DEMO_SUM_PHONE], defaults={"currency": "UZS"})
        IdTag.objects.get_or_create(
            id_tag=DEMO_TAG,
            defaults={"note": "demo card", "client": clients[DEMO_CARD_OWNER_PHONE]},
        )
        plan, created = TariffPlan.objects.get_or_create(
            name="Standard", defaults={"is_default": True, "description": "demo tariff"}
        )
        if created:
            TariffRule.objects.create(
                plan=plan,
                name="day",
                price_per_kwh="16.00",
                session_fee="10.00",
                idle_fee_per_minute="2.00",
                idle_grace_minutes=10,
            )
        user_model = get_user_model()
        if settings.DEBUG and not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", "admin")
        self._report(clients)

    def _report(self, clients: dict[str, Client]) -> None:
        lines = [
            f"Demo data ready: station {DEMO_IDENTITY} (password {DEMO_PASSWORD}), "
            f"id tag {DEMO_TAG}" + (", admin/admin" if settings.DEBUG else "")
        ]
        roles = {
            DEMO_PHONE: "app driver",
            DEMO_CARD_OWNER_PHONE: f"owner of {DEMO_TAG}",
            DEMO_SUM_PHONE: "app driver for Payme/Click",
        }
        for phone, client in clients.items():
            client.refresh_from_db(fields=["language"])
            wallet = wallet_summary(client=client)
            debt = f", debt {money_text(wallet.debt)}" if wallet.debt else ""
            language = client.language or "not set, follows the app"
            lines.append(
                f"  {roles[phone]} {phone} (language: {language}): "
                f"balance {money_text(wallet.balance)} {wallet.currency}, available "
                f"{money_text(wallet.available)}, held {money_text(wallet.held)}{debt}"
            )
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
