"""uvicorn's WebSocket protocol with a keepalive that does not blame the peer for our pace.

The server pings every socket (WS_PING_INTERVAL) and closes one whose pong has not come
within WS_PING_TIMEOUT. But uvicorn stops reading a socket while a received message waits
for the application, and the application is deliberately slow with a charger that sends
faster than its allowance (ocpp_bridge/ratelimit.py: frames over the rate wait their turn,
none refused). The pong then sits in our own receive buffer behind those frames, and stock
uvicorn closed a busy but healthy charger after its first missed deadline (1011, no close
frame seen by the charger). Here a deadline that passes while reading is paused is simply
set again: the peer cannot be late with an answer we are not reading. A peer that is really
gone is still closed one timeout after we read everything it sent.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class PatientWebSocketProtocol(WebSocketsSansIOProtocol):
    def keepalive_timeout(self) -> None:
        if self.read_paused and not self.close_sent and not self.transport.is_closing():
            self.pong_timer = self.loop.call_later(self.ping_timeout, self.keepalive_timeout)
            return
        super().keepalive_timeout()
