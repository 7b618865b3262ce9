"""Refusing a WebSocket handshake with a real HTTP status, before the upgrade."""

from __future__ import annotations

import json


async def deny_handshake(consumer, status: int, body: dict, retry_after: int | None = None) -> None:
    """Answer the handshake with `status` and a JSON body through the ASGI WebSocket Denial
    Response extension (uvicorn); servers without it (daphne) can only refuse with 403."""
    if "websocket.http.response" in consumer.scope.get("extensions", {}):
        headers = [(b"content-type", b"application/json")]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        await consumer.base_send(
            {"type": "websocket.http.response.start", "status": status, "headers": headers}
        )
        await consumer.base_send(
            {"type": "websocket.http.response.body", "body": json.dumps(body).encode()}
        )
    else:
        await consumer.close()
