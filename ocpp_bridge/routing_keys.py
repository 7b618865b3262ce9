"""Channel-layer names derived from station keys (safe characters only)."""


def station_group(station_pk: int) -> str:
    return f"ocpp.station.{int(station_pk)}"
