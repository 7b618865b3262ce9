"""Charging profiles: validation and the csChargingProfiles object (1.6 schema)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from ocpp_bridge.protocol.errors import OcppError
from ocpp_bridge.protocol.schemas import validate_request
from stations.charging_profiles import charging_profile_apply
from stations.station_models import ChargingProfile

START = datetime(2030, 1, 1, 6, 0, tzinfo=UTC)


def profile(**fields) -> ChargingProfile:
    values = {
        "name": "Depot night",
        "charging_profile_id": 7,
        "stack_level": 1,
        "purpose": "TxDefaultProfile",
        "kind": "Absolute",
        "start_schedule": START,
        "charging_rate_unit": "A",
        "schedule_periods": [
            {"startPeriod": 0, "limit": 16},
            {"startPeriod": 3600, "limit": 7.4, "numberPhases": 1},
        ],
    }
    return ChargingProfile(**{**values, **fields})


def set_profile(p: ChargingProfile, connector: int = 1) -> None:
    validate_request(
        "1.6", "SetChargingProfile", {"connectorId": connector, "csChargingProfiles": p.as_ocpp()}
    )


def test_as_ocpp_is_the_cs_charging_profiles_object_and_validates():
    p = profile(
        duration=7200, min_charging_rate=Decimal("6.0"), valid_from=datetime(2030, 1, 1, tzinfo=UTC)
    )

    assert p.as_ocpp() == {
        "chargingProfileId": 7,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "validFrom": "2030-01-01T00:00:00.000Z",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "duration": 7200,
            "startSchedule": "2030-01-01T06:00:00.000Z",
            "minChargingRate": 6.0,
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.0},
                {"startPeriod": 3600, "limit": 7.4, "numberPhases": 1},
            ],
        },
    }
    set_profile(p)


@pytest.mark.parametrize("limit", [16.0, 7.4, 0.1, 0.3, 11, 22.7, 32000.5, "7.4"])
def test_limits_at_a_tenth_validate_against_the_multiple_of_rule(limit):
    set_profile(profile(schedule_periods=[{"startPeriod": 0, "limit": limit}]))


def test_float_noise_is_sent_as_the_tenth_it_means():
    # 3 * 0.1 is 0.30000000000000004 in binary floating point: sent as 0.3, it validates
    p = profile(schedule_periods=[{"startPeriod": 0, "limit": 3 * 0.1}])
    assert p.as_ocpp()["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 0.3
    set_profile(p)


def test_a_limit_finer_than_a_tenth_breaks_the_schema():
    with pytest.raises(OcppError, match="multiple of 0.1"):
        validate_request(
            "1.6",
            "SetChargingProfile",
            {
                "connectorId": 1,
                "csChargingProfiles": {
                    "chargingProfileId": 1,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxProfile",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.05}],
                    },
                },
            },
        )


def test_recurring_and_relative_profiles_validate():
    daily = profile(
        kind="Recurring",
        recurrency_kind="Daily",
        charging_rate_unit="W",
        schedule_periods=[{"startPeriod": 0, "limit": 11000}],
    )
    relative = profile(kind="Relative", start_schedule=None, purpose="TxProfile")
    daily.clean()
    relative.clean()
    set_profile(daily, connector=0)
    assert daily.as_ocpp()["recurrencyKind"] == "Daily"
    assert "startSchedule" not in relative.as_ocpp()["chargingSchedule"]
    set_profile(relative)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"schedule_periods": []}, "schedule_periods", "at least one period"),
        (
            {"schedule_periods": [{"startPeriod": 60, "limit": 16}]},
            "schedule_periods",
            "first period must start at 0",
        ),
        (
            {"schedule_periods": [{"startPeriod": 0, "limit": 16}, {"startPeriod": 0, "limit": 8}]},
            "schedule_periods",
            "must increase",
        ),
        (
            {"schedule_periods": [{"startPeriod": 0, "limit": 16.05}]},
            "schedule_periods",
            "at most one decimal",
        ),
        (
            {"schedule_periods": [{"startPeriod": 0, "limit": 16, "numberPhases": 4}]},
            "schedule_periods",
            "1, 2 or 3",
        ),
        (
            {"schedule_periods": [{"startPeriod": 0, "limit": 16, "unit": "A"}]},
            "schedule_periods",
            "only startPeriod",
        ),
        ({"kind": "Recurring"}, "recurrency_kind", "Daily or Weekly"),
        ({"recurrency_kind": "Daily"}, "recurrency_kind", "Only recurring"),
        ({"kind": "Relative"}, "start_schedule", "leave empty"),
        ({"start_schedule": None}, "start_schedule", "needs its start time"),
        ({"min_charging_rate": Decimal("6.05")}, "min_charging_rate", "one decimal"),
    ],
)
def test_profiles_that_a_charger_would_refuse_do_not_validate(fields, field, message):
    with pytest.raises(ValidationError) as caught:
        profile(**fields).clean()
    assert message in " ".join(caught.value.message_dict[field])


@pytest.mark.django_db
def test_station_maximum_goes_on_connector_zero_and_tx_profile_on_a_connector(make_station):
    station = make_station(connectors=1)
    cp_max = profile(purpose="ChargePointMaxProfile", charging_profile_id=1)
    cp_max.save()
    with pytest.raises(ValidationError, match="connector 0"):
        charging_profile_apply(profile=cp_max, station=station, connector_number=1)
    tx = profile(purpose="TxProfile", charging_profile_id=2)
    tx.save()
    with pytest.raises(ValidationError, match="not 0"):
        charging_profile_apply(profile=tx, station=station, connector_number=0)
    with pytest.raises(ValidationError, match="no connector 5"):
        charging_profile_apply(profile=tx, station=station, connector_number=5)
