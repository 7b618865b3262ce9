"""The driver's charging: start with a limit, follow, stop, history, stats. Every session
id is looked up within request.user's own sessions (anyone else's is a 404)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from charging.session import selectors, start, stop
from charging.session.follow import session_event
from charging.session.models import ChargingSession
from evpower.api.throttling import MONEY
from payments.idempotency import idempotent
from stations.live import publish_to_client_after_commit

from ..errors import SessionNotFound
from .serializers import LimitIn, SessionOut, StartIn, StatsOut

START_ERRORS = (
    "CLIENT_BLOCKED, ACCOUNT_PENDING_DELETION, NOT_FOUND, STATION_UNAVAILABLE, "
    "STATION_OFFLINE, STATION_UNREACHABLE (503), CONNECTOR_OCCUPIED, "
    "CONNECTOR_UNAVAILABLE, "
    "SESSION_ALREADY_ACTIVE, TARIFF_NOT_AVAILABLE, INSUFFICIENT_BALANCE, "
    "LIMIT_TOO_LOW, START_REJECTED, STATION_TIMEOUT (504), VALIDATION_ERROR"
)


def _own(request, session_id: int) -> ChargingSession:
    session = selectors.session_of(client=request.user, session_id=session_id)
    if session is None:
        raise SessionNotFound({"session": session_id})
    return session


def _tell(session: ChargingSession) -> None:
    publish_to_client_after_commit(client_id=session.client_id, event=session_event(session))


class StartView(APIView):
    throttle_scope = MONEY

    @extend_schema(
        request=StartIn,
        responses={201: SessionOut},
        tags=["charging"],
        summary="Start charging with a limit (Idempotency-Key recommended). "
        f"Errors: {START_ERRORS}",
    )
    @idempotent
    def post(self, request):
        data = StartIn(data=request.data)
        data.is_valid(raise_exception=True)
        session = start.session_start(
            client=request.user,
            station_id=data.validated_data["station"],
            connector_number=data.validated_data["connector"],
            limit=LimitIn.to_limit(data.validated_data["limit"]),
        )
        session = _own(request, session.pk)
        _tell(session)
        return Response(SessionOut(session).data, status=status.HTTP_201_CREATED)


class StopView(APIView):
    throttle_scope = MONEY

    @extend_schema(
        request=None,
        responses=SessionOut,
        tags=["charging"],
        summary="Stop charging. A session not started yet is cancelled; one "
        "already stopping or ended is returned as it is. Errors: NOT_FOUND, "
        "STATION_OFFLINE, STATION_UNREACHABLE (503), STOP_FAILED",
    )
    @idempotent
    def post(self, request, session_id: int):
        _own(request, session_id)
        stop.session_stop(
            session_id=session_id,
            requested_by=f"client:{request.user.pk}",
            reason=ChargingSession.StopReason.DRIVER,
        )
        session = _own(request, session_id)
        _tell(session)
        return Response(SessionOut(session).data)


class SessionView(APIView):
    @extend_schema(
        responses=SessionOut,
        tags=["charging"],
        summary="One session: live progress, or the receipt once billed",
    )
    def get(self, request, session_id: int):
        return Response(SessionOut(_own(request, session_id)).data)


class ActiveView(APIView):
    @extend_schema(
        responses=SessionOut(many=True),
        tags=["charging"],
        summary="The client's sessions in progress (pending, charging, finishing)",
    )
    def get(self, request):
        return Response(SessionOut(selectors.sessions_active(client=request.user), many=True).data)


class HistoryView(ListAPIView):
    serializer_class = SessionOut

    def get_queryset(self):
        return selectors.sessions_history(client=self.request.user)

    @extend_schema(tags=["charging"], summary="Ended sessions with receipts, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class StatsView(APIView):
    @extend_schema(
        responses=StatsOut,
        tags=["charging"],
        summary="Sessions, energy and money spent: all time and this month",
    )
    def get(self, request):
        return Response(StatsOut(selectors.sessions_stats(client=request.user)).data)
