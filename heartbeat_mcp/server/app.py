"""The MCP server around one engine: tools, resources, prompts, health routes.

The engine is built before the server (static resources and health routes
close over it), and the server's lifespan is the `EngineHost`'s, so however
many connections or in-process clients enter it, the engine runs once.
"""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.subscriptions import InMemorySubscriptionBus
from pydantic import ValidationError

from heartbeat_mcp import __version__
from heartbeat_mcp.alerts import mcp_channel
from heartbeat_mcp.engine import CycleOutcome, HeartbeatEngine
from heartbeat_mcp.server.channel import ClientChannel
from heartbeat_mcp.server.health import register_health
from heartbeat_mcp.server.host import EngineHost
from heartbeat_mcp.server.metrics import Metrics
from heartbeat_mcp.server.prompts import register_prompts
from heartbeat_mcp.server.resources import CYCLE_CHANGES, register_resources
from heartbeat_mcp.server.speech import spoken_validation
from heartbeat_mcp.server.subscriptions import ResourceNotifier
from heartbeat_mcp.server.tools import register_tools

INSTRUCTIONS = """\
The heartbeat watches the agent's real-estate portfolio in the background and finds what needs action.
The agent usually talks to you by voice, often while driving: every tool result starts with a `speech`
field — say that, briefly, and offer details only when asked. Task and group names may be given the way
people say them ("stale property monitoring", "market intelligence"); durations too ("two hours",
"every ten minutes"). If a tool returns an error, read its message: it says what to ask instead."""


class VoiceServer(MCPServer):
    """An `MCPServer` whose refused arguments are spoken like every other error.

    The SDK checks arguments against the schema before a tool runs, and its
    message is pydantic's (types, brackets, a web address). `call_tool` is the
    public entry both protocol eras pass through, so the message is reworded
    here; the cause stays attached, and the SDK logs only the field names.
    """

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            raise ToolError(f"Error executing tool {name}: {spoken_validation(cause)}") from cause


def build_server(engine: HeartbeatEngine, host: EngineHost | None = None) -> MCPServer:
    """The server for `engine`; pass the `host` when the caller also holds the engine (see run.py)."""
    host = host or EngineHost(engine)
    bus = InMemorySubscriptionBus()
    mcp = VoiceServer("heartbeat", title="Heartbeat", version=__version__, instructions=INSTRUCTIONS,
                      lifespan=host.lifespan, subscriptions=bus)
    notifier = ResourceNotifier(bus)
    notifier.install(mcp)
    engine.add_channel(ClientChannel(mcp_channel(engine.replica_id), notifier))
    metrics = Metrics(engine)

    async def after_cycle(cycle: CycleOutcome) -> None:
        await notifier.changed(CYCLE_CHANGES)

    engine.add_listener(metrics.observe)
    engine.add_listener(after_cycle)
    register_tools(mcp, engine, notifier)
    register_resources(mcp, engine)
    register_prompts(mcp, engine)
    register_health(mcp, engine, metrics)
    return mcp
