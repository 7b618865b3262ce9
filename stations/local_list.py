"""The local authorisation list (OCPP 1.6 SendLocalList / GetLocalListVersion).

A charger keeps a list of id tags with their idTagInfo so it can authorise while offline.
We keep, per station, the version it last accepted, when the tags for that list were
read, and which tags it holds (`LocalListState`). From that:

- a full update sends every id tag; a differential one sends the tags changed since the
  last accepted update (or whose parent changed: a blocked fleet card blocks its
  children), plus tags the charger does not hold yet;
- a differential update cannot delete an entry, so a tag deleted (or renamed) since then,
  or no accepted update yet, makes it a full one;
- the version is the previous one + 1 and is stored only when the charger answers
  Accepted; a Differential answered VersionMismatch or Failed is retried once as Full
  (OCPP 1.6 §5.15: the central system SHOULD then send the full list);
- 1.6 cannot split one version over several messages, so when the charger's
  SendLocalListMaxLength / LocalAuthListMaxLength (from `station.configuration`, read
  with GetConfiguration) is smaller than the list, a full list of the first N tags goes
  out — Accepted tags first — and the result and the log say so.

The charger is never called inside a database transaction (an answer can take 30 s);
instead a sync claims the station's state row with a conditional UPDATE, so two syncs of
one station never interleave, and a crashed one's claim goes stale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from stations.station_models import IdTag, LocalListState, Station

from .charger_port import CommandResult, CommandStatus, format_timestamp, send_command
from .selectors import effective_status

log = logging.getLogger(__name__)
FULL, DIFFERENTIAL = "Full", "Differential"
MAX_LENGTH_KEYS = ("SendLocalListMaxLength", "LocalAuthListMaxLength")


@dataclass(frozen=True)
class ListUpdate:
    update_type: str
    entries: list[dict]  # localAuthorizationList items
    holds: list[str]  # the id tags the charger holds once it accepts this update
    truncated: bool = False
    reason: str = ""  # why it is full, or what was left out


@dataclass(frozen=True)
class LocalListResult(CommandResult):
    """A CommandResult that also says what was sent."""

    update_type: str = ""
    list_version: int | None = None
    entries: int = 0
    truncated: bool = False
    note: str = ""


def max_list_length(station: Station) -> int | None:
    """The most entries the charger takes, if its configuration told us."""
    limits = []
    for key in MAX_LENGTH_KEYS:
        value = (station.configuration.get(key) or {}).get("value")
        try:
            limits.append(int(value))
        except (TypeError, ValueError):
            continue
    return min(limits) if limits else None


def _entry(tag: IdTag, now: datetime) -> dict:
    info: dict = {"status": effective_status(tag, now)}
    if tag.expiry_date is not None:
        info["expiryDate"] = format_timestamp(tag.expiry_date)
    if tag.parent is not None:
        info["parentIdTag"] = tag.parent.id_tag
    return {"idTag": tag.id_tag, "idTagInfo": info}


def _entries(tags, now: datetime) -> list[dict]:
    # Accepted first: if the list must be cut, drivers who may charge keep working offline
    # (an id tag missing from the list is refused offline by default anyway).
    entries = [_entry(tag, now) for tag in tags]
    entries.sort(key=lambda e: (e["idTagInfo"]["status"] != IdTag.Status.ACCEPTED, e["idTag"]))
    return entries


def _full(now: datetime, max_length: int | None, reason: str) -> ListUpdate:
    entries = _entries(IdTag.objects.select_related("parent", "client"), now)
    if max_length is not None and len(entries) > max_length:
        left_out = len(entries) - max_length
        entries = entries[:max_length]
        return ListUpdate(
            FULL,
            entries,
            [e["idTag"] for e in entries],
            truncated=True,
            reason=f"{reason}; list cut to the charger's maximum of {max_length} "
            f"entries, {left_out} id tags left out",
        )
    return ListUpdate(FULL, entries, [e["idTag"] for e in entries], reason=reason)


def build_list_update(
    *, state: LocalListState | None, full: bool, max_length: int | None, now: datetime
) -> ListUpdate:
    """What to send after `state` (None: never synced)."""
    if full:
        return _full(now, max_length, "full update requested")
    if state is None or state.synced_at is None:
        return _full(now, max_length, "no accepted update yet")
    current = set(IdTag.objects.values_list("id_tag", flat=True))
    held = set(state.tags)
    deleted = held - current
    if deleted:
        return _full(
            now,
            max_length,
            f"{len(deleted)} id tag(s) deleted since the last update "
            "(a differential update cannot remove entries)",
        )
    since = state.synced_at
    changed = IdTag.objects.select_related("parent", "client").filter(
        Q(updated_at__gt=since) | Q(parent__updated_at__gt=since) | ~Q(id_tag__in=held)
    )
    entries = _entries(changed, now)
    holds = held | {e["idTag"] for e in entries}
    if max_length is not None and len(holds) > max_length:
        return _full(now, max_length, f"the list would grow past {max_length} entries")
    return ListUpdate(DIFFERENTIAL, entries, sorted(holds))


def _claim(station: Station, now: datetime) -> bool:
    LocalListState.objects.get_or_create(station=station)
    # a sync makes at most two calls; past that its process died without releasing
    stale = now - timedelta(seconds=3 * settings.OCPP_CALL_TIMEOUT + 10)
    return bool(
        LocalListState.objects.filter(pk=station.pk)
        .filter(
            Q(sync_started_at__isnull=True) | Q(sync_started_at__lt=stale),
        )
        .update(sync_started_at=now)
    )


def _release(station: Station) -> None:
    LocalListState.objects.filter(pk=station.pk).update(sync_started_at=None)


@transaction.atomic
def _store_accepted(station: Station, version: int, update: ListUpdate, built_at: datetime) -> None:
    LocalListState.objects.filter(pk=station.pk).update(
        version=version,
        synced_at=built_at,
        tags=update.holds,
        last_update_type=update.update_type,
        truncated=update.truncated,
    )


def _send(station: Station, version: int, update: ListUpdate, requested_by: str) -> CommandResult:
    return send_command(
        station=station,
        action="SendLocalList",
        requested_by=requested_by,
        payload={
            "listVersion": version,
            "updateType": update.update_type,
            "localAuthorizationList": update.entries,
        },
    )


def _answer(result: CommandResult) -> str | None:
    return (result.response or {}).get("status")


def local_list_sync(
    *, station: Station, full: bool = False, requested_by: str = ""
) -> LocalListResult:
    """Send the station's local list (differential when possible). Returns the last
    command's result with what was sent; the version is stored only on Accepted."""
    if not _claim(station, timezone.now()):
        return LocalListResult(
            command_id=0,
            status=CommandStatus.BUSY,
            error_description="another local list update for this station "
            "is under way (nothing sent)",
        )
    try:
        state = LocalListState.objects.get(pk=station.pk)
        limit = max_list_length(station)
        version = state.version + 1
        # read before building: a tag edited while this update is under way is newer
        # than `built_at`, so the next differential update carries it
        built_at = timezone.now()
        update = build_list_update(state=state, full=full, max_length=limit, now=built_at)
        result = _send(station, version, update, requested_by)
        notes = [update.reason] if update.reason else []
        if update.update_type == DIFFERENTIAL and _answer(result) in ("VersionMismatch", "Failed"):
            notes.append(f"differential update answered {_answer(result)}; sent the full list")
            built_at = timezone.now()
            update = build_list_update(state=state, full=True, max_length=limit, now=built_at)
            if update.truncated:
                notes.append(update.reason)
            result = _send(station, version, update, requested_by)
        if _answer(result) == "Accepted":
            _store_accepted(station, version, update, built_at)
        if update.truncated:
            log.warning("local list for %s truncated: %s", station.identity, update.reason)
    finally:
        _release(station)
    return LocalListResult(
        **vars(result),
        update_type=update.update_type,
        list_version=version,
        entries=len(update.entries),
        truncated=update.truncated,
        note="; ".join(notes),
    )


def local_list_version_get(*, station: Station, requested_by: str = "") -> CommandResult:
    """Ask the charger which list version it holds. When that is not the version we last
    had accepted (a reset charger reports 0), the next sync sends the full list with a
    version above both."""
    result = send_command(station=station, action="GetLocalListVersion", requested_by=requested_by)
    reported = (result.response or {}).get("listVersion")
    # -1: the charger has no local list support; nothing to reconcile
    if result.ok and isinstance(reported, int) and reported >= 0:
        with transaction.atomic():
            state, _ = LocalListState.objects.select_for_update().get_or_create(station=station)
            if reported != state.version and state.sync_started_at is None:
                log.warning(
                    "%s holds local list version %s, we sent %s: next sync is full",
                    station.identity,
                    reported,
                    state.version,
                )
                state.version = max(state.version, reported)
                state.synced_at, state.tags = None, []
                state.save(update_fields=["version", "synced_at", "tags"])
    return result
