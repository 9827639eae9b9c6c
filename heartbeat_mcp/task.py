"""The contract between the engine and the checks it runs.

A check pack registers `TaskSpec`s; the engine calls each handler with a
`CheckContext` and records the `CheckResult`. Nothing here knows what the
checks are about, so a pack for another domain plugs in the same way.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.orm import Session

    from heartbeat_mcp.database import Database
    from heartbeat_mcp.schedule import Schedule
    from heartbeat_mcp.settings import Settings


class Priority(enum.StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.low: 0, Priority.medium: 1, Priority.high: 2, Priority.urgent: 3}


class RunStatus(enum.StrEnum):
    """How a task run ended, in the words used in reports and metrics."""

    success = "success"
    action_needed = "action_needed"
    failed = "failed"
    timed_out = "timed_out"
    # The check needs a running server (run-once has none): neither good nor bad.
    not_running = "not_running"


@dataclass(frozen=True)
class ActionItem:
    """One finding a person should act on.

    `subject` identifies what the finding is about (for example
    ``property:12``); together with the task name it is the item's
    fingerprint, so the same finding seen again is the same item.
    `affected` maps a kind of record ("properties", "contacts", ...) to ids.
    """

    subject: str
    priority: Priority
    message: str
    next_step: str = ""
    affected: Mapping[str, Sequence[int]] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class CheckResult:
    items: list[ActionItem] = field(default_factory=list)
    # Counters such as rows_examined and actions_taken; exported as metrics.
    metrics: dict[str, float] = field(default_factory=dict)
    # Structured detail for the report (component states, a digest, ...). A ranked list of what to
    # do first goes under "ranking": {"title": ..., "entries": [{"rank", "priority", "message",
    # "next_step", ...}]}, and the briefing shows it as a list of its own rather than as findings.
    data: dict[str, Any] = field(default_factory=dict)
    # Only for outcomes that are neither success nor action: see RunStatus.not_running.
    status_override: RunStatus | None = None

    @property
    def status(self) -> RunStatus:
        if self.status_override is not None:
            return self.status_override
        return RunStatus.action_needed if self.items else RunStatus.success


@dataclass(frozen=True)
class HostInfo:
    """What runs around the engine, for checks about the process itself."""

    transports: tuple[str, ...] = ()  # e.g. ("stdio",), ("streamable-http",); empty in run-once
    engine_loop_alive: Callable[[], bool] | None = None


@dataclass
class CheckContext:
    """Everything a handler may use.

    Synchronous handlers run in a worker thread and get `session`: the
    transaction in which the engine also records the run, so a check's writes
    and its recorded result commit together or not at all (a `read_only`
    check's is a read-only transaction of its own). Asynchronous handlers
    (network probes) run on the event loop and get no session.
    """

    task: str
    now: datetime
    settings: Settings
    database: Database
    host: HostInfo
    session: Session | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


SyncHandler = Callable[[CheckContext], CheckResult]
AsyncHandler = Callable[[CheckContext], Awaitable[CheckResult]]
Handler = SyncHandler | AsyncHandler


@dataclass(frozen=True)
class TaskSpec:
    """A registered task and its defaults; HEARTBEAT.md and run-time changes override them."""

    name: str
    handler: Handler
    schedule: Schedule
    group: str
    description: str = ""
    priority: Priority = Priority.medium
    enabled: bool = True
    notification_on_failure: bool = True
    timeout_seconds: float = 60.0
    # Tasks that must finish first when both run in the same cycle.
    after: tuple[str, ...] = ()
    # Findings about the heartbeat's own health (its database, the services it
    # needs): they are told as system alerts, and their end is told too.
    system: bool = False
    # The check only reads. It gets a read-only transaction (on SQLite one that
    # runs beside the writer rather than queueing for the write lock, so readers
    # of a cycle run together), and its run is recorded after it, in another.
    read_only: bool = False


class SeedSummary(Protocol):
    rows: dict[str, int]
    seconds: float


class Seeder(Protocol):
    """Writes a realistic demo data set, deterministic for a given `seed` and `now`."""

    def __call__(self, database: Database, *, properties: int, seed: int, now: datetime) -> SeedSummary: ...


@dataclass(frozen=True)
class CheckPack:
    """A set of checks with the tables they own, as found through entry points."""

    name: str
    tasks: tuple[TaskSpec, ...]
    metadata: MetaData | None = None
    migrations: Path | None = None
    checklist: Path | None = None
    seed: Seeder | None = None
