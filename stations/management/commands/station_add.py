"""python manage.py station_add <identity> --location <name> --connectors <n>
[--password <pw> | --generate-password]"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from stations.credentials import InvalidChargerPassword
from stations.services import station_create
from stations.station_models import Station


class Command(BaseCommand):
    help = "Create a charging station (charge point) that may connect over OCPP."

    def add_arguments(self, parser):
        parser.add_argument("identity", help="OCPP charge point identity (1-48 of A-Za-z0-9._-)")
        parser.add_argument("--location", required=True, help="location name (created if new)")
        parser.add_argument("--connectors", type=int, default=1, help="number of connectors")
        secret = parser.add_mutually_exclusive_group(required=True)
        secret.add_argument("--password", help="HTTP Basic password, 16-40 characters")
        secret.add_argument(
            "--generate-password",
            action="store_true",
            help="generate a random password and print it once",
        )
        parser.add_argument("--security-profile", type=int, choices=[1, 2, 3], default=1)
        parser.add_argument("--allow-missing-subprotocol", action="store_true")

    def handle(self, *args, **opts):
        if not 1 <= opts["connectors"] <= 32:
            raise CommandError("--connectors must be between 1 and 32")
        try:
            created = station_create(
                identity=opts["identity"],
                location_name=opts["location"],
                connectors=opts["connectors"],
                password=opts["password"],
                generate_password=opts["generate_password"],
                security_profile=opts["security_profile"],
                allow_missing_subprotocol=opts["allow_missing_subprotocol"],
            )
        except InvalidChargerPassword as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except IntegrityError as exc:
            if Station.objects.filter(identity=opts["identity"]).exists():
                raise CommandError(f"station {opts['identity']} already exists") from exc
            raise
        station = created.station
        self.stdout.write(
            self.style.SUCCESS(
                f"Created station {station.identity} at {station.location} with "
                f"{opts['connectors']} connector(s)."
            )
        )
        if created.password:
            self.stdout.write("Password (shown once, store it in the charger now):")
            self.stdout.write(created.password)
