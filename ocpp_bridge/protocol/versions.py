"""Which OCPP version a connection speaks, from the WebSocket subprotocols the charger
offers: 2.0.1 when it offers it, else 1.6; an operator's pin allows only that one."""

from __future__ import annotations

SUBPROTOCOLS = {"2.0.1": "ocpp2.0.1", "1.6": "ocpp1.6"}
PREFERRED = ("2.0.1", "1.6")


def choose_version(offered: list[str], *, pin: str = "", allow_missing: bool = False) -> str | None:
    """The version to speak, or None when there is none we may speak (the handshake is then
    answered without a subprotocol and closed). `allow_missing`: a 1.6 charger that offers
    no subprotocol at all (older firmware) is taken as 1.6."""
    allowed = (pin,) if pin else PREFERRED
    for version in allowed:
        if SUBPROTOCOLS[version] in offered:
            return version
    if not offered and allow_missing and "1.6" in allowed:
        return "1.6"
    return None
