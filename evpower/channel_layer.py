"""The channel layer of a process without Redis (development): Channels' in-memory layer,
whose channel names say which process made them.

In-memory channels exist in one process only. A station's row names the channel of the
consumer holding its socket; a command sent from another process (a second shell's
`manage.py ocpp_command`, say) could only wait for an answer that cannot come, and would
then be taken for an offline station. With the process in the name, the sender knows at
once that it cannot reach that socket, and says so (`ocpp_bridge.commands`).
"""

from __future__ import annotations

import secrets

from channels.layers import InMemoryChannelLayer

# one per interpreter: a restarted server makes new channels, and its stations reconnect
PROCESS_MARK = f".inmemory-{secrets.token_hex(6)}!"


class ProcessLocalChannelLayer(InMemoryChannelLayer):
    async def new_channel(self, prefix: str = "specific.") -> str:
        name = await super().new_channel(prefix)
        return name.replace(".inmemory!", PROCESS_MARK, 1)


def reachable_from_this_process(channel: str) -> bool:
    """False for an in-memory channel made by another process (Redis channels are
    reachable from anywhere)."""
    return ".inmemory" not in channel or PROCESS_MARK in channel
