"""Client-specific prices and promo codes: models' constraints, promo_redeem, and
quote_for_client precedence (stations.tariff_models, stations.promos, stations.pricing)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from accounts.tests.factories import ClientFactory
from evpower.api.errors import ApiError
from stations.pricing import NoTariff, Quote, quote, quote_for_client
from stations.promos import promo_redeem, redemptions_in_force
from stations.tariff_models import ClientTariff, PromoCode, PromoRedemption
from stations.tests.factories import LocationFactory

from .support import make_connector, plan, rule

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def site():
    return LocationFactory(name="Ala-Too", time_zone="Asia/Bishkek")


@pytest.fixture
def client_a():
    return ClientFactory(phone="+996700100001")


@pytest.fixture
def connector(site):
    rule(
        plan("Default", default=True),
        per_kwh="20.00",
        price_per_minute=Decimal("1.00"),
        session_fee=Decimal("5.00"),
    )
    return make_connector(site)


def tariff(client, **kwargs) -> ClientTariff:
    return ClientTariff.objects.create(client=client, **kwargs)


def promo(code="SPRING", percent="10", **kwargs) -> PromoCode:
    return PromoCode.objects.create(code=code, discount_percent=Decimal(percent), **kwargs)


def redeem(client, code, now=NOW):
    return promo_redeem(client=client, code=code, now=now)


def error_code(call) -> str:
    with pytest.raises(ApiError) as info:
        call()
    return info.value.code


# -- constraints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # neither kind
        {"discount_percent": Decimal("10"), "price_per_kwh": Decimal("5")},  # both kinds
        {"discount_percent": Decimal("0")},
        {"discount_percent": Decimal("100.01")},
        {"price_per_kwh": Decimal("-1")},
    ],
)
def test_a_client_tariff_is_exactly_one_valid_kind(client_a, kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        tariff(client_a, **kwargs)
    with pytest.raises(ValidationError):
        ClientTariff(client=client_a, **kwargs).full_clean()


def test_a_client_tariff_has_at_most_one_scope(client_a, connector, site):
    with pytest.raises(IntegrityError), transaction.atomic():
        tariff(client_a, discount_percent=Decimal("5"), station=connector.station, location=site)


def test_promo_codes_are_case_insensitive_and_unique(client_a):
    promo("Spring")
    assert PromoCode.objects.get().code == "SPRING"
    with pytest.raises(IntegrityError), transaction.atomic():
        PromoCode.objects.bulk_create([PromoCode(code="spring", discount_percent=5)])
    with pytest.raises(ValidationError):
        PromoCode(code=" spring ", discount_percent=5).full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        promo("OTHER", percent="0")


# -- precedence ------------------------------------------------------------------------------


def test_without_client_pricing_the_client_pays_the_plan_price(client_a, connector):
    q = quote_for_client(connector=connector, at=NOW, client=client_a)
    plain = quote(connector=connector, at=NOW)
    assert (q.per_kwh, q.per_minute, q.discount_percent) == (plain.per_kwh, plain.per_minute, 0)
    assert q.client_id == client_a.pk and q.fixed_tariff_id is None and q.discount_source == ""


def test_a_fixed_rate_replaces_only_the_rates_it_sets(client_a, connector):
    t = tariff(client_a, price_per_kwh=Decimal("12.50"))
    q = quote_for_client(connector=connector, at=NOW, client=client_a)
    assert (q.per_kwh, q.per_minute, q.session_fee) == (
        Decimal("12.50"),
        Decimal("1.00"),
        Decimal("5.00"),
    )
    assert (q.fixed_tariff_id, q.plan_per_kwh, q.plan_per_minute) == (t.pk, Decimal("20.00"), None)


def test_the_most_specific_fixed_rate_wins(client_a, connector, site):
    tariff(client_a, price_per_kwh=Decimal("15"))
    at_location = tariff(client_a, price_per_kwh=Decimal("14"), location=site)
    at_station = tariff(client_a, price_per_kwh=Decimal("16"), station=connector.station)
    tariff(
        client_a, price_per_kwh=Decimal("1"), location=LocationFactory(name="Elsewhere")
    )  # not here
    assert (
        quote_for_client(connector=connector, at=NOW, client=client_a).fixed_tariff_id
        == at_station.pk
    )
    at_station.delete()
    q = quote_for_client(connector=connector, at=NOW, client=client_a)
    assert (q.fixed_tariff_id, q.per_kwh) == (at_location.pk, Decimal("14.00"))


def test_discounts_do_not_stack_the_biggest_applies(client_a, connector):
    tariff(client_a, discount_percent=Decimal("10"))
    code = promo(percent="15")
    redemption = redeem(client_a, code.code)
    q = quote_for_client(connector=connector, at=NOW, client=client_a)
    assert (q.discount_percent, q.discount_source, q.discount_source_id, q.promo_code) == (
        Decimal("15"),
        "promo",
        redemption.pk,
        "SPRING",
    )
    bigger = tariff(client_a, discount_percent=Decimal("25"))
    q = quote_for_client(connector=connector, at=NOW, client=client_a)
    assert (q.discount_percent, q.discount_source, q.discount_source_id) == (
        Decimal("25"),
        "client_tariff",
        bigger.pk,
    )


def test_a_discount_applies_on_top_of_a_fixed_rate_and_bills_through_money(client_a, connector):
    tariff(client_a, price_per_kwh=Decimal("10.00"))
    tariff(client_a, discount_percent=Decimal("33.33"))
    q = quote_for_client(connector=connector, at=NOW, client=client_a)
    cost = q.cost(energy_wh=10_000, charging_seconds=600)
    # 10 kWh * 10.00 + 10 min * 1.00 + fee 5.00 = 115.00; 33.33% = 38.33 (half up)
    assert (cost.discount, cost.total) == (Decimal("38.33"), Decimal("76.67"))


def test_the_snapshot_freezes_what_applied(client_a, connector):
    tariff(client_a, price_per_minute=Decimal("0.50"))
    redeem(client_a, promo(percent="20").code)
    q = quote_for_client(connector=connector, at=NOW, client=client_a)
    snapshot = q.as_snapshot()
    assert snapshot["discount_source"] == "promo" and snapshot["promo_code"] == "SPRING"
    assert snapshot["plan_per_minute"] == "1.00" and snapshot["per_minute"] == "0.50"
    assert Quote.from_snapshot(snapshot) == q
    old = {
        k: v
        for k, v in quote(connector=connector, at=NOW).as_snapshot().items()
        if k
        not in {
            "client_id",
            "fixed_tariff_id",
            "plan_per_kwh",
            "plan_per_minute",
            "discount_source",
            "discount_source_id",
            "promo_code",
        }
    }
    assert Quote.from_snapshot(old) == quote(connector=connector, at=NOW)  # older snapshots


def test_client_tariff_validity_window_and_active_flag(client_a, connector):
    tariff(client_a, price_per_kwh=Decimal("1"), valid_from=NOW, valid_to=NOW + timedelta(days=1))
    tariff(client_a, discount_percent=Decimal("50"), active=False)

    def per_kwh(at):
        return quote_for_client(connector=connector, at=at, client=client_a).per_kwh

    assert per_kwh(NOW - timedelta(seconds=1)) == Decimal("20.00")
    assert per_kwh(NOW) == Decimal("1.00")
    assert per_kwh(NOW + timedelta(days=1)) == Decimal("20.00")  # valid_to is exclusive
    assert quote_for_client(connector=connector, at=NOW, client=client_a).discount_percent == 0


def test_other_clients_prices_do_not_leak(client_a, connector):
    other = ClientFactory(phone="+996700100002")
    tariff(other, discount_percent=Decimal("50"))
    assert quote_for_client(connector=connector, at=NOW, client=client_a).discount_percent == 0


def test_no_plan_rule_means_no_tariff_even_with_a_client_rate(client_a, site):
    c = make_connector(site, identity="CP-NONE")
    tariff(client_a, price_per_kwh=Decimal("1"))
    with pytest.raises(NoTariff):
        quote_for_client(connector=c, at=NOW, client=client_a)


def test_quote_for_client_uses_a_fixed_number_of_queries(
    client_a, connector, django_assert_max_num_queries
):
    tariff(client_a, discount_percent=Decimal("5"))
    redeem(client_a, promo().code)
    with django_assert_max_num_queries(5):
        quote_for_client(connector=connector, at=NOW, client=client_a)


# -- promo codes ------------------------------------------------------------------------------


def test_redeem_is_case_insensitive_and_sets_the_benefit_window(client_a):
    promo(benefit_days=7, valid_to=NOW + timedelta(days=30))
    r = redeem(client_a, "  spring ")
    assert r.created and r.redeemed_at == NOW and r.expires_at == NOW + timedelta(days=7)
    other = promo("SHORT", benefit_days=7, valid_to=NOW + timedelta(days=2))
    assert redeem(client_a, "short").expires_at == other.valid_to  # never past valid_to
    promo("OPEN")
    assert redeem(client_a, "open").expires_at is None


def test_a_promo_applies_only_within_its_benefit_window_and_while_active(client_a, connector):
    code = promo(percent="30", benefit_days=1)
    redeem(client_a, "SPRING")

    def percent(at):
        return quote_for_client(connector=connector, at=at, client=client_a).discount_percent

    assert percent(NOW - timedelta(seconds=1)) == 0  # before redemption
    assert percent(NOW + timedelta(hours=23)) == Decimal("30")
    assert percent(NOW + timedelta(days=1)) == 0
    code.active = False
    code.save()
    assert percent(NOW + timedelta(hours=1)) == 0  # the kill switch ends benefits too


def test_redeem_errors(client_a):
    assert error_code(lambda: redeem(client_a, "NOPE")) == "PROMO_NOT_FOUND"
    assert error_code(lambda: redeem(client_a, "")) == "PROMO_NOT_FOUND"
    promo("OFF", active=False)
    assert error_code(lambda: redeem(client_a, "off")) == "PROMO_NOT_FOUND"
    promo("LATER", valid_from=NOW + timedelta(hours=1))
    assert error_code(lambda: redeem(client_a, "later")) == "PROMO_EXPIRED"
    promo("OVER", valid_to=NOW)
    assert error_code(lambda: redeem(client_a, "over")) == "PROMO_EXPIRED"


def test_calling_twice_returns_the_same_redemption_then_limits_apply(client_a):
    promo(benefit_days=1)
    first = redeem(client_a, "SPRING")
    again = redeem(client_a, "spring", now=NOW + timedelta(hours=1))
    assert again.pk == first.pk and not again.created
    assert PromoRedemption.objects.count() == 1
    # after the benefit ended, a max-1 code cannot be redeemed again
    later = NOW + timedelta(days=2)
    assert error_code(lambda: redeem(client_a, "SPRING", now=later)) == "PROMO_ALREADY_USED"


def test_max_per_client_is_counted(client_a):
    promo(benefit_days=1, max_per_client=2)
    redeem(client_a, "SPRING")
    assert redeem(client_a, "SPRING", now=NOW + timedelta(days=2)).created
    assert (
        error_code(lambda: redeem(client_a, "SPRING", now=NOW + timedelta(days=4)))
        == "PROMO_ALREADY_USED"
    )
    assert PromoRedemption.objects.count() == 2


def test_max_total_redemptions(client_a):
    promo(max_redemptions=1)
    redeem(client_a, "SPRING")
    other = ClientFactory(phone="+996700100002")
    assert error_code(lambda: redeem(other, "SPRING")) == "PROMO_EXHAUSTED"
    assert len(redemptions_in_force(client=client_a, at=NOW)) == 1


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (scripts/test.sh)")


def race(n: int, call) -> list:
    barrier, results = threading.Barrier(n), [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = call(i)
        except ApiError as exc:
            results[i] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_redemptions_of_a_max_one_code_one_wins(postgres):
    promo("ONCE", max_redemptions=1)
    clients = [ClientFactory(phone=f"+99670020000{i}") for i in range(6)]
    results = race(6, lambda i: promo_redeem(client=clients[i], code="once"))
    winners = [r for r in results if isinstance(r, PromoRedemption)]
    assert (
        len(winners) == 1
        and sorted(r for r in results if isinstance(r, str)) == ["PROMO_EXHAUSTED"] * 5
    )
    assert PromoRedemption.objects.count() == 1


def test_concurrent_double_tap_by_one_client_redeems_once(postgres):
    promo("TAP", max_per_client=1)
    client = ClientFactory(phone="+996700300001")
    results = race(4, lambda i: promo_redeem(client=client, code="TAP"))
    assert len({r.pk for r in results}) == 1 and sum(r.created for r in results) == 1
    assert PromoRedemption.objects.count() == 1
