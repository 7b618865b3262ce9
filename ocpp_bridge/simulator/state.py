"""What a charger keeps across reconnections, reboots and (with a state file) power cuts.

A real charger writes its open transactions and meter registers to flash, and after a
power cut it ends each transaction that was running with StopTransaction (reason
PowerLoss) at the last reading it had stored. With `SimulatorConfig.state_file` the
simulator does the same, so stopping the demo mid-charge and starting it again leaves
no session charging forever on the central system and no meter going backwards.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ocpp.v16.enums import Measurand

from .config import SimulatorConfig
from .meter import SimulatedMeter

FORMAT = 1


@dataclass
class OpenTransaction:
    transaction_id: int | str  # 1.6: the central system's number; 2.0.1: the charger's id
    connector: int
    id_tag: str
    begin: dict  # the Transaction.Begin meter value, repeated in StopTransaction
    ends_at: float  # time.monotonic()
    metered_at: float
    last: dict | None = None  # the latest meter value sent: where a power cut stops it
    interrupted: bool = False  # restored from the state file: the power went off meanwhile
    seq_no: int = -1  # 2.0.1: the number of the last event sent


@dataclass
class ChargerState:
    meters: dict[int, SimulatedMeter]
    configuration: dict[str, tuple[str, bool]]  # key -> (value, read-only)
    unavailable: set[int] = field(default_factory=set)  # connector ids; 0 = whole station
    open_txs: dict[int, OpenTransaction] = field(default_factory=dict)  # by connector
    booted: bool = False
    path: Path | None = None
    password: str | None = None  # set by the central system (2.0.1 SetVariables); else --password

    @classmethod
    def new(cls, config: SimulatorConfig) -> ChargerState:
        register = int(time.time()) // 10  # a plausible lifetime total, growing run to run
        connectors = range(1, config.connectors + 1)
        sampled = (
            Measurand.energy_active_import_register,
            Measurand.power_active_import,
            Measurand.soc,
            Measurand.voltage,
        )
        state = cls(
            meters={n: SimulatedMeter(register_wh=register) for n in connectors},
            configuration={
                "HeartbeatInterval": (f"{config.heartbeat:g}", False),
                "MeterValueSampleInterval": (f"{config.meter_interval:g}", False),
                "MeterValuesSampledData": (",".join(sampled), True),
                "NumberOfConnectors": (str(config.connectors), True),
                "AuthorizeRemoteTxRequests": ("false", True),
                "SupportedFeatureProfiles": ("Core,RemoteTrigger", True),
            },
            path=Path(config.state_file) if config.state_file else None,
        )
        state._restore()
        return state

    def seconds(self, key: str) -> float:
        return float(self.configuration[key][0])

    # -- the non-volatile memory -------------------------------------------------------

    def save(self) -> None:
        """Write what survives a power cut; atomically, so a cut mid-write loses nothing."""
        if self.path is None:
            return
        data = {
            "format": FORMAT,
            "registers": {str(n): m.register_wh for n, m in self.meters.items()},
            "transactions": [
                {k: v for k, v in asdict(tx).items() if k not in ("ends_at", "metered_at")}
                for tx in self.open_txs.values()
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        os.replace(tmp, self.path)

    def _restore(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return  # unreadable memory: start afresh, as a charger after a reset would
        if data.get("format") != FORMAT:
            return
        for number, register in (data.get("registers") or {}).items():
            meter = self.meters.get(int(number))
            if meter is not None:  # never backwards, whatever the clock did meanwhile
                meter.register_wh = max(meter.register_wh, float(register))
        now = time.monotonic()
        for tx in data.get("transactions") or []:
            if tx.get("connector") in self.meters:
                self.open_txs[tx["connector"]] = OpenTransaction(
                    **{**tx, "ends_at": now, "metered_at": now, "interrupted": True}
                )
