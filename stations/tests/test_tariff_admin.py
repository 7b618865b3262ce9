"""Operators edit tariff plans with their rules inline, and assign them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from stations.tariff_models import TariffAssignment, TariffPlan, TariffRule
from stations.tests.factories import LocationFactory, TariffPlanFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:stations_tariffplan_add")


def plan_form(**rule) -> dict:
    data = {
        "name": "Night",
        "currency": "KGS",
        "active": "on",
        "priority": "0",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "assignments-TOTAL_FORMS": "0",
        "assignments-INITIAL_FORMS": "0",
        "rules-0-name": "night",
        "rules-0-priority": "1",
        "rules-0-price_per_kwh": "8.50",
        "rules-0-price_per_minute": "0",
        "rules-0-session_fee": "0",
        "rules-0-idle_fee_per_minute": "0",
        "rules-0-idle_grace_minutes": "0",
    }
    data.update({f"rules-0-{k}": v for k, v in rule.items()})
    return data


def test_a_plan_is_created_with_its_rules_inline(admin_client):
    assert admin_client.get(ADD).status_code == 200
    response = admin_client.post(
        ADD,
        plan_form(
            connector_types=["CCS2", "CHAdeMO"],
            days_of_week=["5", "6"],
            start_time="22:00",
            end_time="06:00",
        ),
    )
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    rule = TariffRule.objects.get(plan__name="Night")
    assert rule.connector_types == ["CCS2", "CHAdeMO"] and rule.days_of_week == [5, 6]
    assert rule.price_per_kwh == Decimal("8.50") and str(rule.start_time) == "22:00:00"
    changelist = admin_client.get(reverse("admin:stations_tariffplan_changelist"))
    assert changelist.status_code == 200 and b"Night" in changelist.content


def test_a_rule_with_half_a_time_window_is_refused(admin_client):
    response = admin_client.post(ADD, plan_form(start_time="22:00"))
    assert response.status_code == 200 and not TariffPlan.objects.exists()


def test_an_assignment_names_a_location_or_a_station(admin_client):
    plan = TariffPlanFactory(name="City")
    site = LocationFactory(name="Ala-Too")
    add = reverse("admin:stations_tariffassignment_add")
    assert admin_client.post(add, {"plan": plan.pk}).status_code == 200  # neither
    assert admin_client.post(add, {"plan": plan.pk, "location": site.pk}).status_code == 302
    assert TariffAssignment.objects.get().location == site
