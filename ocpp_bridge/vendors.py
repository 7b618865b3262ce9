"""DataTransfer routing by vendorId.

Vendors listed in OCPP_DATA_TRANSFER_VENDORS are accepted (the frame itself is kept in
the message log). A vendor can register a handler for its message ids; a registered
vendor's unknown messageId is answered UnknownMessageId, any other vendor UnknownVendorId.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from .protocol.ports import DataTransferAnswer

Handler = Callable[[str | None], DataTransferAnswer]
_handlers: dict[str, dict[str, Handler]] = {}


def register(vendor_id: str, message_id: str, handler: Handler) -> None:
    _handlers.setdefault(vendor_id, {})[message_id] = handler


def _ping(data: str | None) -> DataTransferAnswer:
    return DataTransferAnswer(status="Accepted", data=data)


register("org.evpower", "ping", _ping)


def data_transfer_answer(vendor_id: str, message_id: str, data: str | None) -> DataTransferAnswer:
    handlers = _handlers.get(vendor_id)
    if handlers is not None:
        handler = handlers.get(message_id)
        if handler is None:
            return DataTransferAnswer(status="UnknownMessageId")
        return handler(data)
    if vendor_id in settings.OCPP_DATA_TRANSFER_VENDORS:
        return DataTransferAnswer(status="Accepted")
    return DataTransferAnswer(status="UnknownVendorId")
