"""Which run gets a free slot: the one with the most work ahead of it."""

from __future__ import annotations

import anyio
import pytest

from heartbeat_mcp.slots import Slots, chain_lengths

pytestmark = pytest.mark.anyio


async def _hold(slots: Slots, served: list[str], name: str, priority: float,
                until: anyio.Event | None = None) -> None:
    async with slots.taken(priority):
        served.append(name)
        if until is not None:
            await until.wait()


async def _serve(slots: Slots, asks: list[tuple[str, float]], served: list[str]) -> None:
    """Every ask in the same instant; each holder keeps its slot until all have asked."""
    release = anyio.Event()
    async with anyio.create_task_group() as group:
        for name, priority in asks:
            group.start_soon(_hold, slots, served, name, priority, release)
        await anyio.wait_all_tasks_blocked()
        release.set()


async def test_runs_asking_together_are_served_longest_first_not_first_come() -> None:
    served: list[str] = []
    await _serve(Slots(2), [("cheap", 1), ("slow", 30), ("quick", 0), ("medium", 10)], served)
    assert served[:2] == ["slow", "medium"]
    assert served == ["slow", "medium", "cheap", "quick"]


async def test_a_freed_slot_goes_to_the_highest_priority_waiter_and_ties_keep_their_order() -> None:
    slots, served, holder_may_leave = Slots(1), [], anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(_hold, slots, served, "holder", 100, holder_may_leave)
        await anyio.wait_all_tasks_blocked()
        for name, priority in (("low", 1), ("high", 5), ("tie_first", 3), ("tie_second", 3)):
            group.start_soon(_hold, slots, served, name, priority)
            await anyio.wait_all_tasks_blocked()
        holder_may_leave.set()
    assert served == ["holder", "high", "tie_first", "tie_second", "low"]


async def test_a_waiter_cancelled_in_the_queue_takes_no_slot() -> None:
    slots, served, holder_may_leave = Slots(1), [], anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(_hold, slots, served, "holder", 0, holder_may_leave)
        await anyio.wait_all_tasks_blocked()
        with anyio.CancelScope() as gone:
            async with anyio.create_task_group() as doomed:
                doomed.start_soon(_hold, slots, served, "cancelled", 9)
                await anyio.wait_all_tasks_blocked()
                gone.cancel()
        group.start_soon(_hold, slots, served, "next", 1)
        await anyio.wait_all_tasks_blocked()
        holder_may_leave.set()
    assert served == ["holder", "next"]
    async with slots.taken(0):  # every slot came back
        pass


def test_a_chain_is_a_task_and_the_longest_chain_of_tasks_waiting_for_it() -> None:
    after = {"rescore": (), "closing": ("rescore",), "deals": ("closing",), "follow_up": ("rescore",),
             "digest": (), "cooling": ("scores",)}
    expected = {"rescore": 1400, "closing": 1500, "deals": 300, "follow_up": 1100, "digest": 290, "cooling": 1000}
    lengths = chain_lengths(after, lambda name: after[name], expected)
    assert lengths == {"rescore": 3200, "closing": 1800, "deals": 300, "follow_up": 1100, "digest": 290,
                       "cooling": 1000}  # scores is not in this cycle: cooling waits for nothing here


def test_tasks_never_timed_count_as_nothing_and_a_circle_of_afters_ends() -> None:
    after = {"a": ("b",), "b": ("a",), "new": ()}
    assert chain_lengths(after, lambda name: after[name], {"a": 5, "b": 7}) == {"a": 12, "b": 7, "new": 0}
