"""What stations adds to a driver's push: where the station is."""

from __future__ import annotations

from stations.station_models import Station


def station_place(params: dict) -> dict:
    """Where the station is, for the text ("Bishkek Park, CP-7"), from its id."""
    if "station" in params and "place" not in params:
        station = (
            Station.objects.filter(pk=params["station"])
            .select_related("location")
            .only("identity", "location__name")
            .first()
        )
        if station is not None:
            params["place"] = (
                f"{station.location.name}, {station.identity}"
                if station.location_id
                else station.identity
            )
    return params
