"""Time for the engine, injectable so tests can move a simulated day in milliseconds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol

import anyio


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep_until(self, deadline: datetime, wake: anyio.Event) -> None:
        """Return at `deadline` or as soon as `wake` is set, whichever comes first."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    async def sleep_until(self, deadline: datetime, wake: anyio.Event) -> None:
        seconds = (deadline - self.now()).total_seconds()
        if seconds <= 0:
            return
        with anyio.move_on_after(seconds):
            await wake.wait()


class FakeClock:
    """A clock that moves only when told to.

    Sleepers wake when `advance` or `set` carries the time past their deadline,
    so a loop under test runs exactly the steps a real day would.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start.astimezone(timezone.utc)
        self._moved = anyio.Event()

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(timezone.utc)
        self._moved.set()
        self._moved = anyio.Event()

    def advance(self, delta: timedelta | float) -> datetime:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        self.set(self._now + delta)
        return self._now

    async def sleep_until(self, deadline: datetime, wake: anyio.Event) -> None:
        while self._now < deadline and not wake.is_set():
            moved = self._moved
            async with anyio.create_task_group() as group:

                async def wait_wake() -> None:
                    await wake.wait()
                    group.cancel_scope.cancel()

                group.start_soon(wait_wake)
                await moved.wait()
                group.cancel_scope.cancel()
