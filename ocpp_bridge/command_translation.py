"""Commands as the domain names them (the command port speaks OCPP 1.6's actions) turned
into what the station's version understands. A 1.6 station gets them as they are; a 2.0.1
station gets the 2.0.1 call that means the same, or an INVALID result when there is none
(a 1.6 configuration key has no 2.0.1 meaning: use GetVariables / SetVariables)."""

from __future__ import annotations

import secrets

from charging.transaction_models import OcppTransaction

from .protocol.errors import NOT_SUPPORTED, PROPERTY_CONSTRAINT, OcppError

NOT_IN_201 = {"ChangeConfiguration", "GetConfiguration", "GetDiagnostics"}


def translate(*, station_id: int, version: str, action: str, payload: dict) -> tuple[str, dict]:
    """(action, payload) to send; OcppError when the command has no meaning for `version`."""
    if version != "2.0.1":
        return action, payload
    match action:
        case "RemoteStartTransaction":
            request = {
                "idToken": {"idToken": payload["idTag"], "type": "Central"},
                # links the charger's transaction to this request; sessions are linked by
                # their id token and connector, as for 1.6
                "remoteStartId": secrets.randbelow(2**31 - 1) + 1,
            }
            if payload.get("connectorId"):
                request["evseId"] = payload["connectorId"]
            return "RequestStartTransaction", request
        case "RemoteStopTransaction":
            remote_id = (
                OcppTransaction.objects.filter(station_id=station_id, pk=payload["transactionId"])
                .values_list("remote_id", flat=True)
                .first()
            )
            if not remote_id:
                raise OcppError(PROPERTY_CONSTRAINT, "no such transaction on this station")
            return "RequestStopTransaction", {"transactionId": remote_id}
        case "Reset":
            kind = {"Soft": "OnIdle", "Hard": "Immediate"}.get(payload["type"], payload["type"])
            return "Reset", {"type": kind}
        case "UnlockConnector":
            return "UnlockConnector", {"evseId": payload["connectorId"], "connectorId": 1}
        case "ChangeAvailability" if "connectorId" in payload:
            request = {"operationalStatus": payload["type"]}  # Operative | Inoperative
            if payload["connectorId"]:
                request["evse"] = {"id": payload["connectorId"]}
            return "ChangeAvailability", request
        case "TriggerMessage" if "connectorId" in payload:
            return "TriggerMessage", {
                "requestedMessage": payload["requestedMessage"],
                "evse": {"id": payload["connectorId"]},
            }
        case "ChangeConfiguration" if payload.get("key") == "AuthorizationKey":
            # the Basic-auth password: 2.0.1 keeps it in the security controller
            return "SetVariables", {
                "setVariableData": [
                    {
                        "attributeValue": payload["value"],
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                    }
                ]
            }
    if action in NOT_IN_201:
        raise OcppError(NOT_SUPPORTED, f"{action} has no OCPP 2.0.1 equivalent")
    return action, payload
