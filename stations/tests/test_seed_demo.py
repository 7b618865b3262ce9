"""seed_demo: the demo's data, safe to run again, and an honest report of the wallets."""

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Client
from payments.models import LedgerTransaction, Wallet
from payments.wallet import wallet_hold
from stations.station_models import Connector, Station

pytestmark = pytest.mark.django_db


def run_command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_demo_station_has_powered_connectors_and_the_wallets_are_funded_once():
    run_command("seed_demo")
    run_command("seed_demo")

    station = Station.objects.get(identity="DEMO-001")
    assert station.max_power_kw == Decimal("7.40")
    assert [
        (c.connector_type, c.max_power_kw)
        for c in Connector.objects.filter(station=station).order_by("number")
    ] == [("Type2", Decimal("7.40"))] * 2
    assert LedgerTransaction.objects.filter(key__startswith="demo-seed:").count() == 2
    driver = Client.objects.get(phone="+996700000001")
    assert Wallet.objects.get(client=driver).balance == Decimal("1000.00")
    assert driver.language == ""  # answers follow the app's Accept-Language
    assert Wallet.objects.get(client__phone="+998900000001").currency == "UZS"


def test_a_second_run_reports_what_the_wallets_hold_now_not_what_was_seeded():
    run_command("seed_demo")
    driver = Client.objects.get(phone="+996700000001")
    wallet_hold(client=driver, amount=Decimal("38.60"), ref=("session", 1), key="demo-hold")

    out, _ = run_command("seed_demo")

    line = next(line for line in out.splitlines() if "+996700000001" in line)
    assert "balance 1000.00 KGS, available 961.40, held 38.60" in line


def test_seed_demo_refuses_production(settings):
    settings.IS_PRODUCTION = True
    with pytest.raises(CommandError, match="development machines only"):
        run_command("seed_demo")
