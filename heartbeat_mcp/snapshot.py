"""What the status says, kept in memory so that asking for it never waits on a busy database.

The agent asks "what's the heartbeat status?" by voice, often while a full
cycle keeps every core busy with the checks' queries; read from the database
then, the answer took up to 200 ms, most of it in two statements over every
open action item. So while the engine's loop runs, the facts the status is
made of live here, and the status tool, the status resource and the health
routes answer from memory:

- This process refreshes them after each run it records (in the background),
  at the end of each cycle, and after a pause, resume or configure it applied,
  before that call returns: a status asked right after "pause the heartbeat"
  says paused.
- Once a tick it reads the cheap half (the engine row, each task's row, how
  many replicas are alive) and reads the open items as well only when that
  half changed. A run anywhere rewrites its task's row in the transaction that
  writes its findings, so changes made by other replicas show within one
  tick, as the engine already promises for pause, resume and configure. An
  SQLite file serves one engine (a second is refused), so there every change
  is made here and the tick reads nothing.
- Whatever depends on the time (is a pause over? which check is next?) is
  worked out when asked, from the stored values, so it never goes stale.
- Whether the database can be reached is not kept here: the engine's own
  flag, set by any statement that fails (this tick's read included), is
  read when the status is asked.

Acknowledging and snoozing change neither the counts by priority nor which
item is on top, so they refresh nothing. Without the loop (a one-off command,
a test that drives ticks itself) nothing keeps the facts, and each read goes
to the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from heartbeat_mcp.alerts import REPLICA_ALIVE
from heartbeat_mcp.clock import Clock
from heartbeat_mcp.database import Database
from heartbeat_mcp.models import ActionItemRow, EngineState, Replica, TaskConfig
from heartbeat_mcp.report import OPEN_ITEMS_ORDER
from heartbeat_mcp.store import ENGINE_ROW
from heartbeat_mcp.task import Priority

# Runs blocking database work in a worker thread; None when the database could not be reached.
DatabaseRunner = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class TaskFacts:
    name: str
    enabled: bool
    paused: bool
    paused_until: datetime | None
    next_run_at: datetime | None
    last_run_at: datetime | None
    consecutive_failures: int
    updated_at: datetime  # moves with every write to the row, whichever replica made it


@dataclass(frozen=True)
class EngineFacts:
    """The cheap half, read every tick: the engine row, the task rows, the replicas alive."""

    paused: bool
    paused_until: datetime | None
    base_interval_seconds: int | None
    tasks: tuple[TaskFacts, ...]
    replicas: int


@dataclass(frozen=True)
class StatusFacts:
    engine: EngineFacts
    open_items: dict[str, int]  # every open item, by priority (each priority present)
    top_item: str | None  # the message of the open item a briefing starts with


_ENGINE_ROW = select(EngineState.paused, EngineState.paused_until, EngineState.base_interval_seconds).where(
    EngineState.id == ENGINE_ROW
)
_TASK_ROWS = select(
    TaskConfig.task_name, TaskConfig.enabled, TaskConfig.paused, TaskConfig.paused_until, TaskConfig.next_run_at,
    TaskConfig.last_run_at, TaskConfig.consecutive_failures, TaskConfig.updated_at,
).order_by(TaskConfig.id)
_OPEN = ActionItemRow.resolved_at.is_(None)
_COUNTS = select(ActionItemRow.priority, func.count()).where(_OPEN).group_by(ActionItemRow.priority)
_TOP_ITEM = select(ActionItemRow.message).where(_OPEN).order_by(*OPEN_ITEMS_ORDER).limit(1)


def read_facts(session: Session, now: datetime, kept: StatusFacts | None = None) -> StatusFacts:
    """Read the facts; with `kept`, the open items only if the cheap half differs from it.

    The cheap half is read first: a run that commits between the two reads
    then shows in the items now and in its task row at the next read, which
    reads everything again, rather than the other way round, where the
    items it wrote would wait for some later change.
    """
    state = session.execute(_ENGINE_ROW).first()
    engine = EngineFacts(
        paused=bool(state and state.paused),
        paused_until=state.paused_until if state else None,
        base_interval_seconds=state.base_interval_seconds if state else None,
        tasks=tuple(TaskFacts(*row) for row in session.execute(_TASK_ROWS)),
        replicas=session.scalar(
            select(func.count()).select_from(Replica).where(Replica.last_seen > now - REPLICA_ALIVE)
        ) or 0,
    )
    if kept is not None and kept.engine == engine:
        return kept
    counts = {p.value: 0 for p in Priority} | {priority: n for priority, n in session.execute(_COUNTS)}
    return StatusFacts(engine, counts, session.scalar(_TOP_ITEM))


class StatusSnapshot:
    """The facts, kept current by `keep` while the engine's loop runs."""

    def __init__(self, database: Database, clock: Clock, tick_seconds: float, run: DatabaseRunner) -> None:
        self._database = database
        self._clock = clock
        # Other replicas' changes are looked for once a tick; an SQLite file has no other replicas.
        self._tick = None if database.is_sqlite else timedelta(seconds=tick_seconds)
        self._run = run
        self._facts: StatusFacts | None = None
        self._kept = False
        self._stale = anyio.Event()
        self._lock = anyio.Lock()
        self._asked = self._answered = 0

    async def read(self) -> StatusFacts | None:
        """The facts: from memory while kept, else from the database; None if it cannot be reached."""
        if not self._kept:
            return await self._run(self._read, None)
        if self._facts is None:
            await self.refresh()
        return self._facts

    def changed(self) -> None:
        """This process has recorded a run: refresh soon, without holding up the caller."""
        self._stale.set()

    async def refresh(self) -> None:
        """Read everything again; returns once a read that began after this call has ended.

        Calls that arrive while a read is under way share the next one, so a
        cycle whose runs finish together costs two reads, not one per run.
        """
        if not self._kept:
            return
        self._asked += 1
        ticket = self._asked
        async with self._lock:
            if self._answered >= ticket:
                return
            covered = self._asked
            await self._update(None)
            self._answered = covered

    async def keep(self) -> None:
        """Keep the facts while the loop runs: after changes made here, and each tick for everyone else's."""
        self._kept, self._facts = True, None  # what an earlier run of the loop kept may be stale by now
        try:
            began = self._clock.now()
            await self.refresh()
            while True:
                stale = self._stale
                if self._tick is None:
                    await stale.wait()
                else:
                    # A tick after the last read began (as the engine's loop counts it), not after it ended.
                    await self._clock.sleep_until(began + self._tick, stale)
                began = self._clock.now()
                if stale.is_set():
                    self._stale = anyio.Event()
                    await self.refresh()
                else:
                    async with self._lock:
                        await self._update(self._facts)
        finally:
            self._kept, self._facts = False, None

    async def _update(self, kept: StatusFacts | None) -> None:
        found = await self._run(self._read, kept)
        if found is not None:  # unreachable: the engine has marked the database down; keep what we knew
            self._facts = found

    def _read(self, kept: StatusFacts | None) -> StatusFacts:
        with self._database.sessions() as session:
            return read_facts(session, self._clock.now(), kept)
