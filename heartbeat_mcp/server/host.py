"""One running engine per process, however often the SDK enters the lifespan.

The SDK enters a server's lifespan once per process on stdio, once per app on
streamable HTTP, but once per connection on SSE and for every in-process
`Client(server)`. The engine must run exactly once (on SQLite a second start
in the same process would even be refused by the file lock), so the lifespan
is reference-counted: the first user starts the engine in its own task group,
later users share it, and the last one to leave stops it. If the user whose
task group runs the engine leaves first, the engine moves to the task group
of the oldest remaining user.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import TaskGroup

from heartbeat_mcp.engine import HeartbeatEngine


class EngineHost:
    def __init__(self, engine: HeartbeatEngine) -> None:
        self.engine = engine
        self._groups: list[TaskGroup] = []  # one per active user, oldest first; the engine runs in [0]
        self._lock = anyio.Lock()

    @property
    def users(self) -> int:
        return len(self._groups)

    @asynccontextmanager
    async def lifespan(self, _server: Any = None) -> AsyncIterator[HeartbeatEngine]:
        """The server's lifespan: yields the shared, running engine."""
        async with anyio.create_task_group() as group:
            async with self._lock:
                self._groups.append(group)
                if len(self._groups) == 1:
                    try:
                        await self.engine.start(group)
                    except BaseException:
                        self._groups.remove(group)
                        raise
            try:
                yield self.engine
            finally:
                with anyio.CancelScope(shield=True):
                    await self._leave(group)
                group.cancel_scope.cancel()

    async def _leave(self, group: TaskGroup) -> None:
        async with self._lock:
            hosting = self._groups[0] is group
            self._groups.remove(group)
            if not hosting:
                return
            await self.engine.stop()
            if self._groups:
                await self.engine.start(self._groups[0])
