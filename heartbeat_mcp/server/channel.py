"""The heartbeat's notifications, told to the MCP clients connected to this process.

One of the dispatcher's channels (heartbeat_mcp.delivery): each notification
becomes a log message to handshake-era clients, at a level that matches its
priority, and a resource update (the action items and the notifications
list), which clients of both eras hear. It never fails: a client that is not
connected when a notification goes out has it in the report and the
`heartbeat://notifications` resource.
"""

from __future__ import annotations

from mcp_types import LoggingLevel

from heartbeat_mcp.delivery import Message
from heartbeat_mcp.server.resources import ALERT_CHANGES
from heartbeat_mcp.server.subscriptions import ResourceNotifier

LOG_LEVELS: dict[str, LoggingLevel] = {"low": "info", "medium": "notice", "high": "warning", "urgent": "alert"}


class ClientChannel:
    def __init__(self, name: str, notifier: ResourceNotifier) -> None:
        self.name = name
        self.notifier = notifier

    async def send(self, message: Message) -> str:
        data = {key: message.payload.get(key) for key in ("type", "priority", "title", "message", "id")}
        told = await self.notifier.log(LOG_LEVELS.get(message.priority, "notice"), data)
        await self.notifier.changed(ALERT_CHANGES)
        return f"told {told} connected client{'' if told == 1 else 's'}"
