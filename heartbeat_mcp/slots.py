"""Which waiting run gets the next free slot: the one with the most work ahead of it.

A cycle's runs share a few slots. First come, first served lets a cheap
check that happened to be claimed first hold a slot while the slowest one
waits, and lets a task that runs `after` another queue behind every cheap
check once its predecessor ends: the cycle then ends with one long chain
running alone on an otherwise idle machine. Giving each free slot to the
waiting run whose chain (its own expected time plus the longest chain of
tasks that wait for it) is longest starts the critical path first and keeps
it moving, the classic longest-path-first rule. Expected times are the
tasks' latest durations; a task never timed counts as zero, so a first cycle
runs in claim order.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel


class Slots:
    """At most `size` holders at once; a free slot goes to the waiter with the highest priority.

    Waiters of equal priority are served in the order they asked. Runs that
    ask in the same instant (a cycle starting) all queue before the first
    slot is handed out, so the first to ask is not simply the first served.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._held = 0
        self._waiting: list[tuple[float, int, anyio.Event]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def taken(self, priority: float) -> AsyncIterator[None]:
        entry = (-priority, next(self._order), anyio.Event())
        heapq.heappush(self._waiting, entry)
        try:
            await anyio.lowlevel.checkpoint()  # let the others starting now queue too
            self._hand_out()
            await entry[2].wait()
        except BaseException:
            if entry[2].is_set():  # handed a slot in the same instant: pass it on
                self._release()
            else:
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
            raise
        try:
            yield
        finally:
            self._release()

    def _hand_out(self) -> None:
        while self._waiting and self._held < self.size:
            self._held += 1
            heapq.heappop(self._waiting)[2].set()

    def _release(self) -> None:
        self._held -= 1
        self._hand_out()


def chain_lengths(names: Iterable[str], after: Callable[[str], Iterable[str]],
                  expected: Mapping[str, float]) -> dict[str, float]:
    """Each task's expected time plus the longest chain of the given tasks that run after it."""
    wanted = list(names)
    followers: dict[str, list[str]] = {name: [] for name in wanted}
    for name in wanted:
        for before in after(name):
            if before in followers:
                followers[before].append(name)
    lengths: dict[str, float] = {}
    on_path: set[str] = set()  # a (misdeclared) circle of `after`s adds nothing rather than recursing forever

    def length(name: str) -> float:
        if name not in lengths:
            on_path.add(name)
            ahead = (length(f) for f in followers[name] if f not in on_path)
            lengths[name] = expected.get(name, 0.0) + max(ahead, default=0.0)
            on_path.discard(name)
        return lengths[name]

    for name in wanted:
        length(name)
    return lengths
