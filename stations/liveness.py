"""The liveness sweep (Celery beat, every 2 minutes): stations still marked connected that
have not been heard from within the liveness window are marked disconnected.

The flag goes stale when a process dies with the socket (nobody runs the consumer's
`disconnect`), or when a socket stays half-open while the charger is silent. Reads do not
wait for the sweep: `stations.selectors` already calls such a station offline (connected
AND heard from recently). The sweep makes the stored flag agree, tells the apps, and alerts
the operators.

- Claimed with a conditional UPDATE per station (still connected, through the same
  connection, still not heard from since the cutoff): overlapping sweeps mark, publish and
  alert each station once, and a charger that reconnected (or spoke) meanwhile is left
  alone.
- The connection it marked stale is told to close (`ocpp.replaced`, handled by the
  consumer): if its process is alive after all, the charger reconnects and is online again
  through the normal path, instead of talking on a socket the platform treats as offline.
  When the process is gone, the message expires unread.
- Publishing to the apps and alerting happen after the update; a failure of either is
  logged and never stops the sweep (the state is in the database).
- Operators get one alert per station (`station-offline:<id>`, rate limited per station by
  `evpower.alerts`) for the first MAX_STATION_ALERTS stations of a sweep; when more go at
  once (a site's network, our own outage) the rest are listed in one summary alert
  instead of a flood of hundreds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models import Q
from django.utils import timezone

from evpower import alerts
from stations.station_models import Station

from .live import publish_status
from .map_cache import location_changed_for_station
from .selectors import liveness_window

log = logging.getLogger("stations")

BATCH = 500  # stations read per query; each is then claimed with its own UPDATE
MAX_STATION_ALERTS = 10  # per sweep; beyond that, one summary alert


@dataclass(frozen=True)
class Offline:
    station_id: int
    identity: str
    location_id: int | None
    location_name: str
    channel: str
    last_seen_at: datetime | None


def stale_q(cutoff: datetime) -> Q:
    """Marked connected, not heard from since `cutoff` (never heard from counts as stale,
    as in `selectors.station_is_online`)."""
    return Q(connected=True) & (Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True))


def liveness_sweep(now: datetime | None = None) -> int:
    """Mark stale stations disconnected; returns how many this run marked."""
    now = now or timezone.now()
    cutoff = now - liveness_window()
    marked: list[Offline] = []
    after = 0
    while True:
        candidates = list(
            Station.objects.filter(stale_q(cutoff), pk__gt=after)
            .select_related("location")
            .order_by("pk")[:BATCH]
        )
        if not candidates:
            break
        after = candidates[-1].pk
        for station in candidates:
            # the claim: only if nothing changed since the read (a reconnect sets a new
            # channel and last_seen_at; a message sets last_seen_at)
            claimed = Station.objects.filter(
                stale_q(cutoff),
                pk=station.pk,
                connection_channel=station.connection_channel,
            ).update(connected=False, connection_channel="", disconnected_at=now)
            if not claimed:
                continue
            location_changed_for_station(station.pk, station.location_id)
            marked.append(
                Offline(
                    station_id=station.pk,
                    identity=station.identity,
                    location_id=station.location_id,
                    location_name=station.location.name if station.location else "",
                    channel=station.connection_channel,
                    last_seen_at=station.last_seen_at,
                )
            )
    if marked:
        log.warning(
            "liveness: %d station(s) marked offline: %s",
            len(marked),
            ", ".join(s.identity for s in marked[:20]) + (" …" if len(marked) > 20 else ""),
        )
        _tell_apps_and_sockets(marked)
        for station in marked[:MAX_STATION_ALERTS]:
            _alert(station, now)
        if len(marked) > MAX_STATION_ALERTS:
            _alert_many(marked[MAX_STATION_ALERTS:])
    return len(marked)


def _tell_apps_and_sockets(marked: list[Offline]) -> None:
    """One event loop for the whole batch (not one per station)."""
    try:
        async_to_sync(_publish_all)(marked)
    except Exception:
        log.exception("liveness: could not publish %d offline station(s)", len(marked))


async def _publish_all(marked: list[Offline]) -> None:
    layer = get_channel_layer()
    for station in marked:
        try:
            await publish_status(
                station_id=station.station_id,
                location_id=station.location_id,
                event={"kind": "online", "online": False},
            )
        except Exception:
            log.exception("liveness: could not publish %s offline", station.identity)
        if station.channel:
            try:
                await layer.send(station.channel, {"type": "ocpp.replaced"})
            except Exception:
                log.exception(
                    "liveness: could not tell %s's stale socket to close", station.identity
                )


def _alert(station: Offline, now: datetime) -> None:
    seen = (
        f"last heard from {station.last_seen_at:%Y-%m-%d %H:%M:%S} UTC "
        f"({int((now - station.last_seen_at).total_seconds() // 60)} min ago)"
        if station.last_seen_at
        else "never heard from"
    )
    where = f" at {station.location_name}" if station.location_name else ""
    try:
        alerts.operator_alert(
            key=f"station-offline:{station.station_id}",
            subject=f"Station {station.identity} offline",
            text=f"Station {station.identity}{where} is offline: {seen}; its connection "
            "was marked closed by the liveness sweep.",
            severity="medium",  # one station: its drivers go elsewhere
        )
    except Exception:  # an alert must never break the sweep
        log.exception("liveness: could not alert about %s", station.identity)


def _alert_many(rest: list[Offline]) -> None:
    names = ", ".join(s.identity for s in rest[:200]) + (" …" if len(rest) > 200 else "")
    try:
        alerts.operator_alert(
            key="stations-offline:many",
            subject=f"{len(rest) + MAX_STATION_ALERTS} stations offline",
            text=f"The liveness sweep marked {len(rest) + MAX_STATION_ALERTS} stations "
            f"offline at once; besides the {MAX_STATION_ALERTS} alerted one by one: "
            f"{names}.",
            severity="critical",  # many at once: a node, the network or the power
        )
    except Exception:
        log.exception("liveness: could not alert about %d more stations", len(rest))
