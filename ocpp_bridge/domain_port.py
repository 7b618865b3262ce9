"""The platform side of the protocol port: each call runs one service and returns
after it commits. Translates protocol dataclasses into service keyword arguments."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from charging.session.follow import SessionNews
from charging.session.stop import session_stop_answered
from charging.transaction_events import TransactionEventInput, transaction_event_record
from charging.transactions import (
    MeterValuesInput,
    Reading,
    meter_values_record_many,
    transaction_start,
    transaction_stop,
)
from evpower.models import SecurityEvent
from evpower.security_events import security_event_record
from stations import selectors as station_selectors
from stations import services as station_services
from stations.charger_reports import charger_report_record, station_events_record
from stations.device_model import device_model_record_report
from stations.live import post_status, post_to_client
from stations.reservations import reservation_record_charger_update

from .coalescer import Coalescer
from .commands import send_command_from_socket
from .db import run_db
from .protocol.ports import (
    BootDecision,
    BootInfo,
    DataTransferAnswer,
    IdTagInfo,
    MeterReport,
    MeterValue,
    StartDecision,
    StatusReport,
    TransactionEvent,
    TransactionStart,
    TransactionStop,
)
from .vendors import data_transfer_answer

log = logging.getLogger("ocpp_bridge")

# the two most frequent messages are applied in group commits (see coalescer.py)
_heartbeats = Coalescer(
    station_services.station_record_heartbeats, writers=settings.OCPP_BATCH_WRITERS
)
_meter_reports = Coalescer(meter_values_record_many, writers=settings.OCPP_BATCH_WRITERS)


def _readings(meter_values: tuple[MeterValue, ...]) -> list[Reading]:
    return [
        Reading(
            timestamp=mv.timestamp,
            value=sv.value,
            measurand=sv.measurand,
            unit=sv.unit,
            phase=sv.phase,
            location=sv.location,
            context=sv.context,
            format=sv.format,
        )
        for mv in meter_values
        for sv in mv.sampled_values
    ]


def _id_tag_info(id_tag: str) -> IdTagInfo:
    status, tag = station_selectors.id_tag_status(id_tag)
    if tag is None:
        return IdTagInfo(status=status, known=False)
    return IdTagInfo(
        status=status,
        expiry_date=tag.expiry_date,
        parent_id_tag=tag.parent.id_tag if tag.parent else None,
    )


class DjangoChargerPort:
    def __init__(
        self,
        *,
        station_id: int,
        identity: str,
        on_seen: Callable[[], None],
        location_id: int | None = None,
        channel_name: str = "",
    ):
        self.station_id = station_id
        self.location_id = location_id
        self.identity = identity
        self.channel_name = channel_name  # the consumer's: where commands to it go
        self._on_seen = on_seen  # the consumer's liveness throttle: these calls touch it
        self._stops: set[asyncio.Task] = set()
        # the charger's transaction ids (2.0.1) whose Updated events take the batched meter
        # path: the charger's id -> ours (learnt from the event that opened it here)
        # -> (transaction id, connector, charging state)
        self._followed: dict[str, tuple[int, int, str]] = {}

    def _tell(self, news: SessionNews | None) -> None:
        if news is None:
            return
        # posted, not awaited: the charger's answer must not depend on the apps' live view
        # (nor on Redis being there: stations/live_delivery.py)
        post_to_client(client_id=news.client_id, event=news.event)
        if news.stop is not None and self.channel_name:
            # sent after the charger has its answer: the MeterValues reply must not wait
            task = asyncio.get_running_loop().create_task(self._limit_stop(*news.stop))
            self._stops.add(task)
            task.add_done_callback(self._stops.discard)

    async def _limit_stop(self, session_id: int, transaction_id: int, reason: str) -> None:
        try:
            result = await send_command_from_socket(
                station_id=self.station_id,
                channel=self.channel_name,
                action="RemoteStopTransaction",
                payload={"transactionId": transaction_id},
                requested_by=f"limit:{reason}",
            )
            await run_db(session_stop_answered, session_id=session_id, result=result)
        except Exception:
            log.exception("limit stop of session %s failed", session_id)

    async def boot(self, info: BootInfo) -> BootDecision:
        now = timezone.now()
        status = await run_db(
            station_services.station_record_boot,
            station_id=self.station_id,
            now=now,
            **asdict(info),
        )
        self._on_seen()
        return BootDecision(
            status=status, interval=settings.OCPP_HEARTBEAT_INTERVAL, current_time=now
        )

    async def heartbeat(self) -> datetime:
        await _heartbeats.submit(self.station_id)
        self._on_seen()
        return timezone.now()

    async def status_notification(self, report: StatusReport) -> None:
        applied = await run_db(
            station_services.station_record_status,
            station_id=self.station_id,
            now=timezone.now(),
            **asdict(report),
        )
        self._on_seen()
        if not applied:  # an out-of-order older status changed nothing: nothing to tell
            return
        post_status(
            station_id=self.station_id,
            location_id=self.location_id,
            event={
                "kind": "connector",
                "connector": report.connector_id,
                "status": report.status,
                "error_code": report.error_code,
            },
        )

    async def authorize(self, id_tag: str) -> IdTagInfo:
        # Reservations play no part here: 1.6 Authorize names no connector, and the charger
        # itself keeps a reserved connector for its id tag. Refusing a tag because another
        # tag reserved a connector would turn a driver away from the free ones; a start on
        # the reserved connector is caught in transaction_start.
        return await run_db(_id_tag_info, id_tag=id_tag)

    async def start_transaction(self, start: TransactionStart) -> StartDecision:
        result = await run_db(
            transaction_start,
            station_id=self.station_id,
            now=timezone.now(),
            raw=asdict(start),
            **asdict(start),
        )
        info = IdTagInfo(
            status=result.id_tag_status,
            expiry_date=result.expiry_date,
            parent_id_tag=result.parent_id_tag,
        )
        self._tell(result.news)
        return StartDecision(transaction_id=result.transaction_id, id_tag_info=info)

    async def meter_values(self, report: MeterReport) -> None:
        news = await _meter_reports.submit(
            MeterValuesInput(
                station_id=self.station_id,
                connector_id=report.connector_id,
                transaction_id=report.transaction_id,
                readings=_readings(report.meter_values),
                now=timezone.now(),
                raw=report,
            )
        )
        for item in news:
            self._tell(item)

    async def stop_transaction(self, stop: TransactionStop) -> IdTagInfo | None:
        result = await run_db(
            transaction_stop,
            station_id=self.station_id,
            transaction_id=stop.transaction_id,
            meter_stop=stop.meter_stop,
            timestamp=stop.timestamp,
            id_tag=stop.id_tag,
            reason=stop.reason,
            readings=_readings(stop.transaction_data),
            now=timezone.now(),
            raw=asdict(stop),
        )
        self._tell(result.news)
        if not stop.id_tag:
            return None
        return await run_db(_id_tag_info, id_tag=stop.id_tag)

    async def transaction_event(self, event: TransactionEvent) -> IdTagInfo | None:
        followed = self._followed.get(event.transaction_id)
        if (
            event.event_type == "Updated"
            and followed is not None
            and event.id_token is None
            and not event.offline  # counted on the transaction: the full path
            and event.charging_state in ("", followed[2])  # a change is stored there too
        ):
            # the common event: meter values, batched with the other chargers' (group
            # commit); its seqNo is applied in the same transaction as its samples
            news = await _meter_reports.submit(
                MeterValuesInput(
                    station_id=self.station_id,
                    connector_id=followed[1],
                    transaction_id=followed[0],
                    readings=_readings(event.meter_values),
                    now=timezone.now(),
                    raw=event,
                    seq_no=event.seq_no,
                )
            )
            self._on_seen()
            for item in news:
                self._tell(item)
            return None
        result = await run_db(
            transaction_event_record,
            TransactionEventInput(
                station_id=self.station_id,
                remote_id=event.transaction_id,
                seq_no=event.seq_no,
                event_type=event.event_type,
                timestamp=event.timestamp,
                connector_id=event.evse_id,
                id_tag=event.id_token,
                readings=_readings(event.meter_values),
                now=timezone.now(),
                raw=asdict(event),
                stop_reason=event.stopped_reason,
                reservation_id=event.reservation_id,
                charging_state=event.charging_state,
                offline=event.offline,
            ),
        )
        self._on_seen()
        if result.followable and result.transaction_id is not None:
            self._followed[event.transaction_id] = (
                result.transaction_id,
                result.connector_id,
                result.charging_state,
            )
        else:
            self._followed.pop(event.transaction_id, None)
        for news in result.news:
            self._tell(news)
        if result.id_tag_status is None:
            return None
        return IdTagInfo(
            status=result.id_tag_status,
            expiry_date=result.expiry_date,
            parent_id_tag=result.parent_id_tag,
        )

    async def notify_report(self, report_data: list[dict]) -> None:
        await run_db(
            device_model_record_report,
            station_id=self.station_id,
            report_data=report_data,
            now=timezone.now(),
        )

    async def notify_event(self, events: list[dict]) -> None:
        await run_db(
            station_events_record, station_id=self.station_id, events=events, now=timezone.now()
        )

    async def charger_report(self, kind: str, payload: dict) -> None:
        await run_db(
            charger_report_record,
            station_id=self.station_id,
            kind=kind,
            payload=payload,
            now=timezone.now(),
        )

    async def reservation_update(self, reservation_id: int, update: str) -> None:
        await run_db(
            reservation_record_charger_update,
            station_id=self.station_id,
            reservation_id=reservation_id,
            update=update,
            now=timezone.now(),
        )

    async def data_transfer(
        self, vendor_id: str, message_id: str, data: str | None
    ) -> DataTransferAnswer:
        return data_transfer_answer(vendor_id, message_id, data)

    async def diagnostics_status(self, status: str) -> None:
        await run_db(
            station_services.station_record_diagnostics_status,
            station_id=self.station_id,
            status=status,
            now=timezone.now(),
        )

    async def firmware_status(self, status: str, request_id: int | None, signed: bool) -> None:
        await run_db(
            station_services.station_record_firmware_status,
            station_id=self.station_id,
            status=status,
            request_id=request_id,
            now=timezone.now(),
        )

    async def security_event(self, kind: str, timestamp: datetime, tech_info: str) -> None:
        await run_db(
            security_event_record,
            station_id=self.station_id,
            identity=self.identity,
            kind=kind,
            tech_info=tech_info,
            occurred_at=timestamp,
            source=SecurityEvent.Source.CHARGER,
        )

    async def log_status(self, status: str, request_id: int | None) -> None:
        await run_db(
            station_services.station_record_log_status,
            station_id=self.station_id,
            status=status,
            request_id=request_id,
            now=timezone.now(),
        )

    async def sign_certificate(self, csr: str) -> str:
        await run_db(
            station_services.station_record_csr,
            station_id=self.station_id,
            csr=csr,
            now=timezone.now(),
        )
        return "Accepted"
