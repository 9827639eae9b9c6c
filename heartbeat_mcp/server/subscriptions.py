"""Telling connected clients that a resource changed, in both protocol eras, and what the heartbeat found.

Modern clients (2026-07-28) open a `subscriptions/listen` stream; the SDK
serves it from the bus we pass to `MCPServer(subscriptions=...)`, so a
publish reaches them. Legacy clients (the initialize handshake, which most
desktop clients and the MCP Inspector still speak) send `resources/subscribe`,
which `MCPServer` does not handle: we register that handler on the low-level
server, remember each connection's subscribed URIs, and send
`notifications/resources/updated` to it. Each era's notification is silently
dropped for the other era's clients, so every change goes out both ways.

Handshake-era connections can also be sent log messages at any time
(`notifications/message` on their standalone stream): that is how the
heartbeat's notifications reach a client that did not ask. Connections are
remembered from their `notifications/initialized`, weakly, so a client that
goes away is simply forgotten. Modern clients get no unsolicited log
messages (the protocol forbids them); they hear resource updates instead.

This is the only module that touches the SDK's private attributes
(`MCPServer._lowlevel_server`, `ServerSession._connection`).
"""

from __future__ import annotations

import logging
import warnings
import weakref
from collections.abc import Iterable
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import EmptyResult, LoggingLevel, NotificationParams, SubscribeRequestParams, UnsubscribeRequestParams

log = logging.getLogger("heartbeat_mcp.server")
# Log messages are sent only to handshake-era connections, for which logging is not deprecated.
warnings.filterwarnings("ignore", message="The logging capability is deprecated", category=MCPDeprecationWarning)

SEND_TIMEOUT_SECONDS = 2.0


class ResourceNotifier:
    """One place that knows who listens, whatever protocol era they speak."""

    def __init__(self, bus: InMemorySubscriptionBus) -> None:
        self.bus = bus
        # connection -> (a session proxy that can still notify it, its subscribed URIs)
        self._legacy: dict[Any, tuple[ServerSession, set[str]]] = {}
        # every handshake-era connection that finished initializing, for log messages
        self._connected: weakref.WeakSet[Any] = weakref.WeakSet()

    @property
    def legacy_subscribers(self) -> int:
        return len(self._legacy)

    def install(self, server: MCPServer) -> None:
        """Serve `resources/subscribe` and `resources/unsubscribe` for handshake-era clients."""
        lowlevel = server._lowlevel_server  # noqa: SLF001 - MCPServer exposes no public hook for this
        lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, self._subscribe)
        lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, self._unsubscribe)
        lowlevel.add_notification_handler("notifications/initialized", NotificationParams, self._initialized)

    async def _initialized(self, ctx: ServerRequestContext[Any], params: NotificationParams) -> None:
        self._connected.add(ctx.session._connection)  # noqa: SLF001 - the connection outlives this request

    @property
    def connected(self) -> int:
        return len(self._connected)

    async def log(self, level: LoggingLevel, data: Any) -> int:
        """Send a log message to every handshake-era client still connected; returns how many were sent to.

        Sending is best effort (the SDK drops it for a closed stream) and
        bounded in time, so one stalled client cannot hold up the others.
        """
        sent = 0
        for connection in list(self._connected):
            with anyio.move_on_after(SEND_TIMEOUT_SECONDS):
                await connection.log(level, data, logger="heartbeat")
                sent += 1
        return sent

    async def _subscribe(self, ctx: ServerRequestContext[Any], params: SubscribeRequestParams) -> EmptyResult:
        connection = ctx.session._connection  # noqa: SLF001 - one entry per connection, not per request
        _, uris = self._legacy.setdefault(connection, (ctx.session, set()))
        uris.add(str(params.uri))
        return EmptyResult()

    async def _unsubscribe(self, ctx: ServerRequestContext[Any], params: UnsubscribeRequestParams) -> EmptyResult:
        connection = ctx.session._connection  # noqa: SLF001
        entry = self._legacy.get(connection)
        if entry is not None:
            entry[1].discard(str(params.uri))
            if not entry[1]:
                del self._legacy[connection]
        return EmptyResult()

    async def changed(self, uris: Iterable[str]) -> None:
        """Tell every subscriber of any of `uris`; a client that cannot be reached is forgotten.

        Sends run concurrently with a short timeout each, so a stalled client
        never holds up the engine cycle that called us.
        """
        uris = list(uris)
        for uri in uris:
            await self.bus.publish(ResourceUpdated(uri=uri))
        gone: list[Any] = []

        async def notify(connection: Any, session: ServerSession, wanted: list[str]) -> None:
            try:
                with anyio.fail_after(SEND_TIMEOUT_SECONDS):
                    for uri in wanted:
                        await session.send_resource_updated(uri)
            except Exception as exc:  # noqa: BLE001 - closed stream, timeout: the client has gone
                log.debug("dropping a resource subscriber: %s", type(exc).__name__)
                gone.append(connection)

        async with anyio.create_task_group() as group:
            for connection, (session, subscribed) in list(self._legacy.items()):
                wanted = [u for u in uris if u in subscribed]
                if wanted:
                    group.start_soon(notify, connection, session, wanted)
        for connection in gone:
            self._legacy.pop(connection, None)
