"""The MCP server around one engine: tools, resources, prompts, health routes.

The engine is built before the server (static resources and health routes
close over it), and the server's lifespan is the `EngineHost`'s, so however
many connections or in-process clients enter it, the engine runs once.
"""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus

from heartbeat_mcp import __version__
from heartbeat_mcp.engine import CycleOutcome, HeartbeatEngine
from heartbeat_mcp.server.health import register_health
from heartbeat_mcp.server.host import EngineHost
from heartbeat_mcp.server.metrics import Metrics
from heartbeat_mcp.server.prompts import register_prompts
from heartbeat_mcp.server.resources import CYCLE_CHANGES, register_resources
from heartbeat_mcp.server.subscriptions import ResourceNotifier
from heartbeat_mcp.server.tools import register_tools

INSTRUCTIONS = """\
The heartbeat watches the agent's real-estate portfolio in the background and finds what needs action.
The agent usually talks to you by voice, often while driving: every tool result starts with a `speech`
field — say that, briefly, and offer details only when asked. Task and group names may be given the way
people say them ("stale property monitoring", "market intelligence"); durations too ("two hours",
"every ten minutes"). If a tool returns an error, read its message: it says what to ask instead."""


def build_server(engine: HeartbeatEngine, host: EngineHost | None = None) -> MCPServer:
    """The server for `engine`; pass the `host` when the caller also holds the engine (see run.py)."""
    host = host or EngineHost(engine)
    bus = InMemorySubscriptionBus()
    mcp = MCPServer("heartbeat", title="Heartbeat", version=__version__, instructions=INSTRUCTIONS,
                    lifespan=host.lifespan, subscriptions=bus)
    notifier = ResourceNotifier(bus)
    notifier.install(mcp)
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
