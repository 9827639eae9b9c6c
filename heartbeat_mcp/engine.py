"""The heartbeat engine: tiered schedules, leases, timeouts, and the latest report.

The loop sleeps until the next task is due (or a tick passes, to notice other
replicas and an edited HEARTBEAT.md), claims due tasks with a lease, and runs
them concurrently in worker threads, the longest chains of work first
(`slots`). The database is the single source of truth, so pause, resume and
configure from any replica reach all of them.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup, TaskStatus
from sqlalchemy import Connection, and_, case, delete, func, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from heartbeat_mcp import alerts, store
from heartbeat_mcp.checklist import (
    Checklist, ChecklistError, ChecklistGroup, ChecklistItem, parse_checklist, render_checklist, validate_checklist,
)
from heartbeat_mcp.clock import Clock, SystemClock
from heartbeat_mcp.database import Database, describe_error, interrupt, is_cancelled_statement
from heartbeat_mcp.delivery import Channel, Dispatcher, WebhookChannel
from heartbeat_mcp.models import Replica, TaskConfig
from heartbeat_mcp.plugins import load_packs
from heartbeat_mcp.registry import Registry, Target, spoken_task
from heartbeat_mcp.report import Report, build_report, plural, spoken_list
from heartbeat_mcp.schedule import DailyAt, Every, EveryCycle, Schedule, parse_schedule, speak_duration
from heartbeat_mcp.settings import Settings
from heartbeat_mcp.singleton import ProcessLock
from heartbeat_mcp.slots import Slots, chain_lengths
from heartbeat_mcp.snapshot import StatusSnapshot
from heartbeat_mcp.task import (
    ActionItem, CheckContext, CheckPack, CheckResult, HostInfo, Priority, RunStatus, TaskSpec,
)

log = logging.getLogger("heartbeat_mcp.engine")

MIN_INTERVAL = 10
MAX_INTERVAL = 7 * 24 * 3600
BACKOFF_CAP_SECONDS = 3600
FAILURE_ALERT_AFTER = 3
TIMEOUT_GRACE_SECONDS = 3.0
ITEMS_IN_RESULT = 20
CycleListener = Callable[["CycleOutcome"], Awaitable[None]]


def default_checklist(settings: Settings, packs: Sequence[CheckPack]) -> Path | None:
    """HEARTBEAT_CHECKLIST when set, else the first pack's packaged HEARTBEAT.md."""
    return settings.checklist or next((p.checklist for p in packs if p.checklist), None)


class ConfigurationError(ValueError):
    """A configuration request that cannot be applied; nothing was changed."""


@dataclass
class RunOutcome:
    task: str
    status: RunStatus
    duration_ms: float
    items: list[ActionItem] = field(default_factory=list)
    error: str | None = None
    recorded: bool = True


@dataclass
class CycleOutcome:
    cycle_id: str
    trigger: str
    started_at: datetime
    duration_ms: float
    runs: dict[str, RunOutcome]
    skipped: dict[str, str] = field(default_factory=dict)  # task -> why it did not run here

    @property
    def failed(self) -> list[str]:
        return [n for n, r in self.runs.items() if r.status in (RunStatus.failed, RunStatus.timed_out)]


@dataclass
class EngineStatus:
    state: str  # "running" | "paused" | "disabled" | "stopped" | "starting"
    paused_until: datetime | None
    database: str
    database_error: str | None
    replica: str
    replicas: int
    tasks_enabled: int
    tasks_total: int
    tasks_paused: list[str]
    tasks_failing: list[str]
    next_task: str | None
    next_run_at: datetime | None
    last_cycle: datetime | None
    base_interval_seconds: int
    checklist: str
    checklist_error: str | None
    running_tasks: list[str]
    uptime_seconds: float
    open_items: dict[str, int]  # by priority
    top_item: str | None  # the message of the most pressing open item


class _InFlight:
    """A task running in this process; a trigger for the same task waits on it instead.

    `stop` is the run's cancel scope: the lease keeper cancels it when another
    replica has taken the task over (`lost`).
    """

    def __init__(self, claim: store.Claim) -> None:
        self.claim = claim
        self.done = anyio.Event()
        self.outcome: RunOutcome | None = None
        self.stop: anyio.CancelScope | None = None
        self.lost = False


class HeartbeatEngine:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        packs: Sequence[CheckPack] | None = None,
        clock: Clock | None = None,
        host: HostInfo | None = None,
        max_concurrency: int = 4,
        lease_seconds: float = 30.0,
        tick_seconds: float = 5.0,
        keep_runs_days: int = 30,
        keep_runs_per_task: int = 1000,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.host = host or HostInfo()
        self.packs = tuple(load_packs() if packs is None else packs)
        self.registry = Registry(spec for pack in self.packs for spec in pack.tasks)
        self.replica_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = timedelta(seconds=lease_seconds)
        self.tick_seconds = tick_seconds
        self.keep_runs_days = keep_runs_days
        self.keep_runs_per_task = keep_runs_per_task
        self.checklist_path = default_checklist(settings, self.packs)
        self.checklist: Checklist | None = None
        self.checklist_error: str | None = None
        self._checklist_stamp: tuple[int, int] | None = None
        self.database_ok: bool | None = None
        self.database_error: str | None = None
        self._prepared = False
        self._slots = Slots(max_concurrency)
        self._expected_ms: dict[str, float] = {}  # each task's latest duration: the longest chains start first
        self._wake = anyio.Event()
        self._inflight: dict[str, _InFlight] = {}
        self._listeners: list[CycleListener] = []
        self._task_group: TaskGroup | None = None
        self._loop_scope: anyio.CancelScope | None = None
        self._lock: ProcessLock | None = None
        self._started_monotonic: float | None = None
        self._last_replica_touch = 0.0
        self._last_prune = 0.0
        self._manual_cycle: tuple[frozenset[str], anyio.Event, list[CycleOutcome]] | None = None
        self.policy = alerts.AlertPolicy.from_settings(settings)
        self.dispatcher = Dispatcher(database, self.clock, self.replica_id)
        self.snapshot = StatusSnapshot(database, self.clock, tick_seconds, self._db)
        if settings.webhook_url is not None:
            self.dispatcher.add(WebhookChannel(settings.webhook_url))

    # --- registration -------------------------------------------------------------

    def register_task(
        self,
        name: str,
        handler: Callable[[CheckContext], Any],
        schedule: Schedule | str | int,
        priority: Priority | str = Priority.medium,
        enabled: bool = True,
        notification_on_failure: bool = True,
        *,
        group: str = "Custom checks",
        timeout_seconds: float = 60.0,
        after: Iterable[str] = (),
        description: str = "",
        system: bool = False,
    ) -> TaskSpec:
        """Add a task; `schedule` is seconds, a phrase ("every 10 minutes") or a Schedule."""
        if isinstance(schedule, int):
            schedule = Every(schedule)
        elif isinstance(schedule, str):
            schedule = parse_schedule(schedule, self.settings.timezone)
        spec = TaskSpec(
            name=name, handler=handler, schedule=schedule, group=group, description=description,
            priority=Priority(priority), enabled=enabled, notification_on_failure=notification_on_failure,
            timeout_seconds=timeout_seconds, after=tuple(after), system=system,
        )
        self.registry.add(spec)
        self._prepared = False  # the new task gets its row on the next tick
        self.wake()
        return spec

    def add_channel(self, channel: Channel) -> None:
        """Deliver notifications on one more channel (the MCP layer adds its clients here)."""
        self.dispatcher.add(channel)

    def add_listener(self, listener: CycleListener) -> None:
        """Be told after every cycle (the MCP layer sends resource updates from here)."""
        self._listeners.append(listener)

    # --- lifecycle ----------------------------------------------------------------

    async def __aenter__(self) -> HeartbeatEngine:
        self._exit_stack_group = anyio.create_task_group()
        group = await self._exit_stack_group.__aenter__()
        await self.start(group)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        await self._exit_stack_group.__aexit__(*exc)

    async def start(self, task_group: TaskGroup) -> None:
        """Take the process lock (SQLite), prepare the database, and start the loop.

        A database that is down at start does not stop the engine: the loop
        keeps retrying and the status says the database is down.
        """
        if self.database.sqlite_path:
            self._lock = ProcessLock(Path(self.database.sqlite_path))
            self._lock.acquire()
        self._task_group = task_group
        self._started_monotonic = time.monotonic()
        await self._try_prepare()
        await task_group.start(self.run)

    @asynccontextmanager
    async def standalone(self) -> AsyncIterator[HeartbeatEngine]:
        """The engine without its loop, for one-off runs (`heartbeat-mcp run-once`)."""
        if self.database.sqlite_path:
            self._lock = ProcessLock(Path(self.database.sqlite_path))
            self._lock.acquire()
        try:
            if not await self._try_prepare():
                raise ConfigurationError(f"The heartbeat can't reach its database: {self.database_error}")
            yield self
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    async def stop(self) -> None:
        """Stop the loop, let running tasks finish for a few seconds, hand back leases."""
        if self._loop_scope is not None:
            self._loop_scope.cancel()
        with anyio.move_on_after(TIMEOUT_GRACE_SECONDS + 2):
            for inflight in list(self._inflight.values()):
                await inflight.done.wait()
        # Runs still going now are abandoned, like those cancelled with the request that started
        # them: free every lease of this replica, so the next start runs those tasks again at once.
        # A run that still tries to record itself then fails its lease check and rolls back.
        def leave(session: Any) -> None:
            session.execute(delete(Replica).where(Replica.id == self.replica_id))
            ours = TaskConfig.lease_owner.startswith(f"{self.replica_id}/", autoescape=True)
            session.execute(update(TaskConfig).where(ours).values(lease_owner=None, lease_until=None))

        with anyio.CancelScope(shield=True), anyio.move_on_after(3):
            try:
                await self.database.run_in_transaction(leave)
            except Exception:  # noqa: BLE001 - the database may be gone; nothing to clean then
                pass
        self._prepared = False  # the replica row is gone: a restart (see EngineHost) writes it again
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._started_monotonic = None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The loop, and beside it the notification dispatcher. Neither ends by itself."""
        with anyio.CancelScope() as scope:
            self._loop_scope = scope
            async with anyio.create_task_group() as group:
                group.start_soon(self.dispatcher.run)
                group.start_soon(self.snapshot.keep)
                task_status.started()
                while True:
                    wake, began = self._wake, self.clock.now()
                    try:
                        await self._beat()
                    except Exception:  # noqa: BLE001 - the loop must survive anything a beat does
                        log.exception("heartbeat loop step failed; retrying next tick")
                    await self.clock.sleep_until(await self.next_wake(began), wake)
                    if wake.is_set():
                        self._wake = anyio.Event()

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._started_monotonic is not None

    # --- one step of the loop -----------------------------------------------------

    async def _beat(self) -> None:
        if not await self._try_prepare():
            return
        claims = await self._db(self._claim_due)
        if claims is None or not claims:
            return
        assert self._task_group is not None
        self._task_group.start_soon(self._run_cycle, claims, "schedule")

    async def tick(self) -> CycleOutcome | None:
        """One loop step that waits for the runs it starts: what tests drive with a fake clock."""
        if not await self._try_prepare():
            return None
        claims = await self._db(self._claim_due)
        if not claims:
            return None
        return await self._run_cycle(claims, "schedule")

    async def next_wake(self, began: datetime | None = None) -> datetime:
        """When the loop wakes next: the nearest due task, pause end or lease end, or one tick after the step that
        began at `began` (now, when not given).

        A tick counts from when the step began, not from when it ended: the
        beat keeps its pace however long a step takes, and time that passes
        during a step (a slow database; a test's clock moved meanwhile) is
        never waited for twice.
        """
        now = self.clock.now()
        fallback = (began or now) + timedelta(seconds=self.tick_seconds)
        if not self._prepared or not self.database_ok:
            return fallback
        nearest = await self._db(self._nearest_due, now)
        return min(fallback, nearest) if nearest else fallback

    def _nearest_due(self, now: datetime) -> datetime | None:
        """The next moment anything can become due: a run, the end of a pause, or of a lease."""
        with self.database.sessions() as session:
            state = session.get(store.EngineState, store.ENGINE_ROW)
            if state is not None and store.is_paused(state.paused, state.paused_until, now):
                return state.paused_until
            wake_at = case(
                (and_(TaskConfig.paused.is_(True), or_(TaskConfig.paused_until.is_(None), TaskConfig.paused_until > now)),
                 TaskConfig.paused_until),
                (TaskConfig.lease_until > now, TaskConfig.lease_until),
                else_=TaskConfig.next_run_at,
            )
            return session.scalar(
                select(func.min(wake_at)).where(
                    TaskConfig.enabled.is_(True), TaskConfig.task_name.in_(self.registry.names)
                )
            )

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Database work for the loop: failures mark the database down instead of raising."""
        try:
            result = await self.database.run(fn, *args)
        except (OperationalError, DBAPIError, OSError) as exc:
            self._database_down(exc)
            return None
        self._database_up()
        return result

    def _database_down(self, exc: BaseException) -> None:
        if self.database_ok is not False:
            log.error("database unavailable: %s", describe_error(exc))
        self.database_ok, self.database_error = False, describe_error(exc)

    def _database_up(self) -> None:
        if self.database_ok is False:
            log.info("database reachable again")
        self.database_ok, self.database_error = True, None

    async def _try_prepare(self) -> bool:
        """Apply HEARTBEAT.md edits and (re)write task rows when needed; False while the database is down."""
        await self._reload_checklist()
        if self._prepared:
            return True
        ok = await self._db(self._prepare_sync)
        self._prepared = bool(ok)
        return self._prepared

    def _prepare_sync(self) -> bool:
        now = self.clock.now()
        with self.database.transaction() as session:
            state = store.engine_state(session, now)
            base = state.base_interval_seconds or self.settings.interval_seconds
            store.sync_tasks(session, self._defaults(base, now), now)
            if not self._expected_ms:  # from history once; after that, from this process's own runs
                self._expected_ms.update(store.latest_durations(session))
            session.merge(Replica(
                id=self.replica_id, hostname=socket.gethostname(), pid=os.getpid(), started_at=now,
                last_seen=now, transports=",".join(self.host.transports),
            ))
        return True

    def _defaults(self, base_seconds: int, now: datetime) -> list[store.TaskDefaults]:
        """Each task's configuration from the registry overlaid with HEARTBEAT.md.

        A new interval task first runs after a stable jitter (tasks sharing a
        schedule do not all start in the same instant; a task that runs
        `after` another shares that one's offset, so both land in one cycle);
        a daily task first runs at its next daily time.
        """
        roots = self._jitter_roots()
        defaults = []
        for spec in self.registry:
            item = self.checklist.find(spec.name) if self.checklist else None
            schedule, group, enabled, timeout = spec.schedule, spec.group, spec.enabled, spec.timeout_seconds
            if item is not None:
                group_entry, entry = item
                schedule = entry.schedule or group_entry.schedule
                group, enabled = group_entry.name, entry.enabled
                timeout = entry.timeout_seconds or timeout
            if isinstance(schedule, EveryCycle):
                schedule = EveryCycle(base_seconds)
            elif isinstance(schedule, DailyAt):
                schedule = DailyAt(schedule.at, self.settings.timezone)  # the agent's morning, not UTC's
            if isinstance(schedule, Every):
                first = now + timedelta(seconds=store.jitter_seconds(roots[spec.name], schedule.interval_seconds))
            else:
                first = schedule.next_after(now)
            defaults.append(store.TaskDefaults(
                name=spec.name, group=group, enabled=enabled, schedule=schedule.describe(),
                schedule_seconds=schedule.interval_seconds, timeout_seconds=timeout, first_run_at=first,
            ))
        return defaults

    def _jitter_roots(self) -> dict[str, str]:
        roots = {}
        for spec in self.registry:
            root = spec
            while root.after and root.after[0] in self.registry:
                root = self.registry[root.after[0]]
            roots[spec.name] = root.name
        return roots

    def descriptions(self) -> dict[str, str]:
        found = {spec.name: spec.description for spec in self.registry}
        if self.checklist:
            for _group, item in self.checklist.items():
                found[item.task] = item.text
        return found

    async def _reload_checklist(self) -> None:
        """Pick up an edited HEARTBEAT.md; a broken edit keeps the last good configuration."""
        path = self.checklist_path
        if path is None:
            return
        try:
            stat = Path(path).stat()
        except OSError as exc:
            self.checklist_error = f"{path}: {exc.strerror}"
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._checklist_stamp:
            return
        self._checklist_stamp = stamp
        try:
            text_ = Path(path).read_text(encoding="utf-8")
            checklist = parse_checklist(text_, source=str(path), timezone=self.settings.timezone)
            validate_checklist(checklist, self.registry.names, source=str(path))
        except (ChecklistError, OSError, UnicodeDecodeError) as exc:
            if str(exc) != self.checklist_error:
                log.error("HEARTBEAT.md not applied, keeping the last good configuration: %s", exc)
            self.checklist_error = str(exc)
            return
        if self.checklist is not None:
            log.info("HEARTBEAT.md changed; applying it")
        self.checklist, self.checklist_error = checklist, None
        self._prepared = False

    # --- claiming and running -----------------------------------------------------

    def _claim_due(self) -> list[store.Claim]:
        now = self.clock.now()
        token = f"{self.replica_id}/{uuid.uuid4().hex[:8]}"
        with self.database.transaction() as session:
            self._touch_replica(session, now)
            state = store.engine_state(session, now)
            if not self.settings.enabled or store.is_paused(state.paused, state.paused_until, now):
                return []
            # Everything due is claimed together and runs as one cycle (so the report and its
            # subscribers see the cycle whole); the run slots, not the claim, bound concurrency,
            # and the cycle's lease keeper renews the leases of runs still waiting for a slot.
            names = [n for n in self.registry.names if n not in self._inflight]
            if not names:
                return []
            return store.claim_due(session, names, now, token, self.lease, len(names))

    def _touch_replica(self, session: Any, now: datetime) -> None:
        if time.monotonic() - self._last_replica_touch < 30:
            return
        self._last_replica_touch = time.monotonic()
        session.merge(Replica(
            id=self.replica_id, hostname=socket.gethostname(), pid=os.getpid(),
            started_at=now if self._started_monotonic is None else now - timedelta(seconds=self.uptime),
            last_seen=now, transports=",".join(self.host.transports),
        ))
        if time.monotonic() - self._last_prune > 3600:
            self._last_prune = time.monotonic()
            store.prune_history(session, now, self.keep_runs_days, self.keep_runs_per_task)

    @property
    def uptime(self) -> float:
        return 0.0 if self._started_monotonic is None else time.monotonic() - self._started_monotonic

    async def _run_cycle(
        self,
        claims: Sequence[store.Claim],
        trigger: str,
        progress: Callable[[RunOutcome, int, int], Awaitable[None]] | None = None,
        joined: Sequence[str] = (),
    ) -> CycleOutcome:
        cycle_id = uuid.uuid4().hex
        started, t0 = self.clock.now(), time.perf_counter()
        in_cycle = {c.task for c in claims} | set(joined)
        inflight = {c.task: self._inflight.setdefault(c.task, _InFlight(c)) for c in claims}
        waiting = {name: self._inflight[name] for name in joined if name in self._inflight}
        runs: dict[str, RunOutcome] = {}
        total = len(in_cycle)
        ahead = chain_lengths(in_cycle, lambda name: self.registry[name].after, self._expected_ms)

        async def one(claim: store.Claim) -> None:
            outcome = RunOutcome(claim.task, RunStatus.failed, 0.0, error="stopped", recorded=False)
            running = inflight[claim.task]

            def finished() -> None:
                running.outcome = outcome
                running.done.set()

            try:
                for before in self.registry[claim.task].after:
                    if before in in_cycle and before in self._inflight:
                        await self._inflight[before].done.wait()
                async with self._slots.taken(ahead[claim.task]):
                    outcome = await self._execute(running, trigger, cycle_id)
                    # The runs waiting for this one queue for its slot before it is freed: otherwise a run already
                    # queued takes it, and the next step of the longest chain waits for another run to end.
                    finished()
                    await anyio.lowlevel.checkpoint()
                if outcome.recorded:
                    self._expected_ms[claim.task] = outcome.duration_ms
            except Exception as exc:  # noqa: BLE001 - one task's trouble never ends the cycle
                if isinstance(exc, (OperationalError, DBAPIError)):
                    self._database_down(exc)
                log.exception("task %s could not be run or recorded", claim.task)
                outcome = RunOutcome(claim.task, RunStatus.failed, 0.0, error=describe_error(exc), recorded=False)
            finally:
                finished()
                # Counted here, not when the followers are told: each progress report counts the runs ended so far.
                runs[claim.task] = outcome
                self._inflight.pop(claim.task, None)
            self.snapshot.changed()
            if progress is not None:
                await progress(outcome, len(runs), total)

        async def join(name: str, running: _InFlight) -> None:
            await running.done.wait()
            if running.outcome is not None:
                runs[name] = running.outcome
                if progress is not None:
                    await progress(running.outcome, len(runs), total)

        async with anyio.create_task_group() as group:
            if claims:
                group.start_soon(self._keep_leases, list(inflight.values()))
            async with anyio.create_task_group() as running_group:
                for claim in claims:
                    running_group.start_soon(one, claim)
                for name, running in waiting.items():
                    running_group.start_soon(join, name, running)
            group.cancel_scope.cancel()
        cycle = CycleOutcome(cycle_id, trigger, started, (time.perf_counter() - t0) * 1000, runs)
        log.info(
            "cycle %s (%s): %d tasks in %.0f ms, %d failed",
            cycle_id[:8], trigger, len(runs), cycle.duration_ms, len(cycle.failed),
        )
        await self.snapshot.refresh()  # the cycle's listeners tell clients the status changed: it has, by now
        if self.policy.cycle_complete and runs:
            await self._db(self._announce_cycle, cycle)
        self.dispatcher.wake()
        for listener in self._listeners:
            try:
                await listener(cycle)
            except Exception:  # noqa: BLE001 - a listener never breaks the engine
                log.exception("cycle listener failed")
        return cycle

    def _announce_cycle(self, cycle: CycleOutcome) -> None:
        failed = cycle.failed
        found = sum(len(r.items) for r in cycle.runs.values())
        message = (f"The heartbeat ran {plural(len(cycle.runs), 'check')} in {cycle.duration_ms / 1000:.1f} seconds: "
                   f"{plural(found, 'finding')}" + (f", {plural(len(failed), 'check')} failed." if failed else "."))
        with self.database.transaction() as session:
            alerts.enqueue(session, self.policy, [alerts.NewNotification(
                kind=alerts.CYCLE_COMPLETE, priority=Priority.low.value, title="Heartbeat cycle complete",
                message=message, data={"cycle_id": cycle.cycle_id, "tasks": sorted(cycle.runs), "failed": failed},
            )], self.clock.now())

    async def _execute(self, running: _InFlight, trigger: str, cycle_id: str) -> RunOutcome:
        claim = running.claim
        spec = self.registry[claim.task]
        ctx = CheckContext(
            task=spec.name, now=self.clock.now(), settings=self.settings, database=self.database, host=self.host,
        )
        run = _execute_async if inspect.iscoroutinefunction(spec.handler) else _execute_sync
        return await run(self, spec, ctx, running, trigger, cycle_id, time.perf_counter())

    async def _keep_leases(self, runs: list[_InFlight]) -> None:
        """Renew the cycle's leases at a third of their length, in one statement; stop runs another replica took."""
        while True:
            await anyio.sleep(self.lease.total_seconds() / 3)
            pending = [r for r in runs if not r.done.is_set()]
            if not pending:
                return
            until = self.clock.now() + self.lease
            by_token: dict[str, list[str]] = {}
            for r in pending:
                by_token.setdefault(r.claim.token, []).append(r.claim.task)
            taken = await self._db(lambda: self._in_session(
                lambda s: set().union(*(store.renew_lease(s, tasks, token, until) for token, tasks in by_token.items()))
            ))
            for r in pending:
                if taken and r.claim.task in taken:
                    log.warning("lost the lease on %s; stopping this run", r.claim.task)
                    r.lost = True
                    if r.stop is not None:
                        r.stop.cancel()

    def _in_session(self, fn: Callable[[Any], Any]) -> Any:
        with self.database.transaction() as session:
            return fn(session)

    async def _record_failure_safely(self, spec: TaskSpec, claim: store.Claim, trigger: str, cycle_id: str,
                                     started: datetime, t0: float, status: RunStatus,
                                     error: BaseException | None) -> RunOutcome:
        """Record a failed run; if even that fails the database is gone, and the lease will expire."""
        try:
            return await self.database.run(
                self._record_failure, spec, claim, trigger, cycle_id, started, t0, status, error
            )
        except store.LeaseLost:
            return RunOutcome(spec.name, RunStatus.failed, _ms(t0), error=_TAKEN_OVER, recorded=False)
        except (OperationalError, DBAPIError) as exc:
            self._database_down(exc)
            return RunOutcome(spec.name, status, _ms(t0), error=describe_error(error or exc), recorded=False)

    def _run_record(self, claim: store.Claim, trigger: str, cycle_id: str, started: datetime, t0: float,
                    result: CheckResult) -> store.RunRecord:
        now = self.clock.now()
        payload = {
            "status": result.status.value,
            "item_count": len(result.items),
            "items": [_item_json(i) for i in result.items[:ITEMS_IN_RESULT]],
            "metrics": result.metrics,
            "data": result.data,
        }
        return store.RunRecord(
            claim=claim, trigger=trigger, cycle_id=cycle_id, replica=self.replica_id, started_at=started,
            finished_at=now, duration_ms=_ms(t0), status=result.status.value, error=None, result=payload,
            next_run_at=self._next_run(claim, now, trigger, failures=0), failed=False,
        )

    def _record(self, connection: Connection, session: Session | None, spec: TaskSpec, record: store.RunRecord,
                result: CheckResult) -> RunOutcome:
        """Record a run in `connection`'s transaction, and sync its findings through `session`.

        The record itself is Core statements: the ORM has nothing to add to them.
        Without the check's own session, one joins `connection`'s transaction when
        there are findings to sync (it neither commits nor ends that transaction).
        """
        has_open = store.record_run(connection, record)
        # Nothing found and nothing open: syncing would change nothing and tell nothing.
        if result.status is not RunStatus.not_running and (result.items or has_open):
            with nullcontext(session) if session is not None else Session(bind=connection) as items:
                synced = store.sync_items(items, spec.name, result.items, record.finished_at)
                alerts.notify_for_run(items, self.policy, spec, synced, record.finished_at)
        return RunOutcome(spec.name, result.status, record.duration_ms, items=list(result.items))

    def _record_alone(self, spec: TaskSpec, record: store.RunRecord, result: CheckResult,
                      worker: _Worker | None = None) -> RunOutcome:
        """Record a run whose check wrote nothing, in a transaction of its own.

        A run that found nothing is first offered to `store.record_quiet_run`
        (one self-committing statement on PostgreSQL, the driver's own
        statements on SQLite); it writes only while the task has nothing open,
        and otherwise the full record follows.
        """
        watch = worker.watch if worker is not None else _unwatched
        if not result.items and store.record_quiet_run(self.database, record, watch):
            return RunOutcome(spec.name, result.status, record.duration_ms)
        with self.database.engine.begin() as connection:
            watch(connection.connection.dbapi_connection)
            return self._record(connection, None, spec, record, result)

    def _record_failure(self, spec: TaskSpec, claim: store.Claim, trigger: str, cycle_id: str,
                        started: datetime, t0: float, status: RunStatus, error: BaseException | None) -> RunOutcome:
        now = self.clock.now()
        message = describe_error(error) if error is not None else status.value
        failures = claim.consecutive_failures + 1
        log.warning("task %s %s: %s", spec.name, status.value, message)
        with self.database.transaction() as session:
            store.record_run(session.connection(), store.RunRecord(
                claim=claim, trigger=trigger, cycle_id=cycle_id, replica=self.replica_id, started_at=started,
                finished_at=now, duration_ms=_ms(t0), status=status.value, error=message,
                result={"status": status.value, "item_count": 0, "error": message},
                next_run_at=self._next_run(claim, now, trigger, failures=failures), failed=True,
            ))
            if spec.notification_on_failure and failures >= FAILURE_ALERT_AFTER:
                synced = store.sync_items(session, spec.name, [ActionItem(
                    subject=store.FAILING_SUBJECT, priority=max(spec.priority, Priority.high, key=lambda p: p.rank),
                    message=f"The {spoken_task(spec.name)} check has failed {failures} times in a row: {message}",
                    next_step="Look at the heartbeat logs; the check retries with growing pauses.",
                    data={"error": message, "consecutive_failures": failures},
                )], now, resolve_missing=False)
                alerts.notify_for_run(session, self.policy, spec, synced, now, subjects=[store.FAILING_SUBJECT])
        return RunOutcome(spec.name, status, _ms(t0), error=message)

    def _next_run(self, claim: store.Claim, now: datetime, trigger: str, *, failures: int) -> datetime | None:
        """When the task runs next: missed periods collapse into one; failures back off."""
        schedule = self.parse_schedule(claim.schedule)
        if isinstance(schedule, Every):
            schedule = Every(claim.schedule_seconds)  # the row's seconds follow the base cycle
        interval = schedule.interval_seconds
        if failures:
            delay = min(interval * 2 ** (failures - 1), max(interval, BACKOFF_CAP_SECONDS))
            return now + timedelta(seconds=delay)
        if trigger == "manual":
            return None
        if isinstance(schedule, Every):
            # Keep the task's phase (its jitter) and skip every period already missed.
            periods = int((now - claim.scheduled_for).total_seconds() // interval) + 1
            return claim.scheduled_for + timedelta(seconds=interval * max(periods, 1))
        return schedule.next_after(now)

    def parse_schedule(self, text_: str) -> Schedule:
        return parse_schedule(text_, self.settings.timezone)

    # --- the voice-facing API ----------------------------------------------------

    def resolve(self, phrase: str | None) -> Target:
        return self._resolve(phrase, self._task_switches())

    def _resolve(self, phrase: str | None, switches: dict[str, store.TaskSwitch]) -> Target:
        group_of = {name: switch.group_name for name, switch in switches.items()}
        return self.registry.resolve(phrase, group_of=group_of, descriptions=self.descriptions())

    def _task_switches(self) -> dict[str, store.TaskSwitch]:
        with self.database.engine.connect() as connection:
            return store.task_switches(connection)

    def _rows_sync(self) -> list[TaskConfig]:
        with self.database.sessions() as session:
            return store.task_rows(session)

    async def execute_cycle(
        self,
        target: str | None = None,
        *,
        progress: Callable[[RunOutcome, int, int], Awaitable[None]] | None = None,
    ) -> CycleOutcome:
        """Run now every enabled task (or the tasks a phrase names), in dependency order.

        A task already running here is joined rather than started twice; one
        running on another replica is reported as skipped.
        """
        if not await self._try_prepare():
            raise ConfigurationError("The heartbeat can't reach its database right now.")

        def targets() -> tuple[Target, dict[str, store.TaskSwitch]]:
            switches = self._task_switches()
            return self._resolve(target, switches), switches

        # One trip to a worker thread, one light query: the tasks named and whether each is on.
        resolved, switches = await self.database.run(targets)
        names = [n for n in resolved.tasks if resolved.kind == "task" or switches[n].enabled]
        names = self.registry.ordered(names)
        current = self._manual_cycle
        if current is not None and set(names) <= current[0]:
            await current[1].wait()
            return current[2][0]
        done, holder = anyio.Event(), []
        self._manual_cycle = (frozenset(names), done, holder)
        try:
            joined = [n for n in names if n in self._inflight]
            token = f"{self.replica_id}/{uuid.uuid4().hex[:8]}"
            fresh = [n for n in names if n not in joined]
            claims = await self.database.run(
                self._in_session, lambda s: store.claim_now(s, fresh, self.clock.now(), token, self.lease)
            ) if fresh else []
            claimed = {c.task for c in claims}
            cycle = await self._run_cycle(claims, "manual", progress, joined)
            cycle.skipped = {n: "running on another replica" for n in fresh if n not in claimed}
            holder.append(cycle)
            return cycle
        finally:
            done.set()
            self._manual_cycle = None

    async def pause(self, target: str | None = None, until: datetime | None = None) -> Target:
        """Pause the engine, a group or a task, until a time or until resumed; survives restarts."""
        resolved = await self.database.run(self.resolve, target)
        now = self.clock.now()
        if until is not None and until <= now:
            raise ConfigurationError("That time has already passed; say how long to pause for.")
        if resolved.kind == "engine":
            await self.database.run_in_transaction(lambda s: store.set_engine_paused(s, now, True, until))
        else:
            await self.database.run_in_transaction(lambda s: store.set_task_paused(s, list(resolved.tasks), True, until, now))
        await self._applied()
        return resolved

    async def resume(self, target: str | None = None) -> Target:
        resolved = await self.database.run(self.resolve, target)
        now = self.clock.now()
        if resolved.kind == "engine":
            await self.database.run_in_transaction(lambda s: store.set_engine_paused(s, now, False, None))
        else:
            await self.database.run_in_transaction(lambda s: store.set_task_paused(s, list(resolved.tasks), False, None, now))
        await self._applied()
        return resolved

    async def configure(
        self, target: str | None = None, *, enabled: bool | None = None, interval: timedelta | None = None
    ) -> Target:
        """Enable, disable or re-time a task, a group, or the base cycle; all or nothing."""
        if enabled is None and interval is None:
            raise ConfigurationError("Say whether to turn it on or off, or how often it should run.")
        seconds = None
        if interval is not None:
            seconds = int(interval.total_seconds())
            if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
                raise ConfigurationError(
                    f"{speak_duration(interval.total_seconds())} is out of range: "
                    "choose between 10 seconds and 7 days."
                )
        resolved = await self.database.run(self.resolve, target)
        now = self.clock.now()
        if resolved.kind == "engine" and enabled is not None and interval is None:
            await self.database.run_in_transaction(lambda s: store.set_engine_paused(s, now, not enabled, None))
            await self._applied()
            return resolved

        def apply(session: Any) -> None:
            tasks = list(resolved.tasks)
            if seconds is not None and resolved.kind == "engine":
                store.set_base_interval(session, now, seconds)
            elif seconds is not None:
                store.set_schedule(session, tasks, Every(seconds).describe(), seconds, now)
            if enabled is not None:
                store.set_enabled(session, list(resolved.tasks), enabled, now)

        await self.database.run_in_transaction(apply)
        await self._applied()
        return resolved

    async def _applied(self) -> None:
        """A pause, resume or configure is written: the loop looks again, and the status says so before we return."""
        self.wake()
        await self.snapshot.refresh()

    async def effective_checklist(self) -> str:
        """The configuration in force, as HEARTBEAT.md: the file's layout with run-time changes applied."""
        await self._reload_checklist()
        rows = {r.task_name: r for r in await self.database.run(self._rows_sync)}
        base = self.checklist or Checklist()
        groups: list[ChecklistGroup] = []
        placed: set[str] = set()
        descriptions = self.descriptions()

        def item_for(name: str, group_schedule: Schedule, text_: str) -> ChecklistItem:
            row = rows.get(name)
            spec = self.registry[name]
            if row is None:
                return ChecklistItem(name, spec.enabled, text_)
            own = None if row.schedule == group_schedule.describe() else self.parse_schedule(row.schedule)
            timeout = row.timeout_seconds if row.timeout_seconds != spec.timeout_seconds else None
            return ChecklistItem(name, row.enabled, text_, own, timeout)

        for group in base.groups:
            items = tuple(item_for(i.task, group.schedule, i.text) for i in group.items if i.task in self.registry)
            placed.update(i.task for i in items)
            groups.append(ChecklistGroup(group.name, group.schedule, items, group.notes))
        for group_name, names in self.registry.groups().items():
            missing = [n for n in names if n not in placed]
            if missing:
                schedule = self.registry[missing[0]].schedule
                items = tuple(item_for(n, schedule, descriptions.get(n) or spoken_task(n)) for n in missing)
                groups.append(ChecklistGroup(group_name, schedule, items))
        return render_checklist(Checklist(base.preamble, tuple(groups)))

    async def report(
        self, *, tasks: list[str] | None = None, min_priority: Priority | None = None, item_limit: int = 50,
        heard: bool = False,
    ) -> Report:
        """The latest report; `heard=True` when it is told to the agent, so the next one can say what is new."""
        def build() -> Report:
            now = self.clock.now()
            # Only hearing it writes (a read must not take SQLite's write lock).
            with self.database.transaction() if heard else self.database.sessions() as session:
                last_asked = store.mark_report_read(session, now) if heard else None
                return build_report(
                    session, now, database_ok=self.database_ok is not False,
                    tasks=tasks, min_priority=min_priority, item_limit=item_limit, last_asked=last_asked,
                )

        try:
            return await self.database.run(build)
        except (OperationalError, DBAPIError) as exc:
            self._database_down(exc)
            raise ConfigurationError("The heartbeat can't reach its database right now.") from None

    async def acknowledge(self, ids: Sequence[int] | None = None, target: str | None = None) -> list[int]:
        """Acknowledge open items by id, every open item of a task or group, or (neither given) every open item.

        Ids that are not open items are refused and nothing changes: "acknowledge 12 and 99" with 99 long
        resolved should be corrected, not half done.
        """
        resolved = await self.database.run(self.resolve, target) if target else None
        now = self.clock.now()

        def apply(session: Any) -> list[int]:
            if ids is not None:
                missing = sorted(set(ids) - set(store.open_items(session, ids)))
                if missing:
                    raise ConfigurationError(_not_open(missing))
            tasks = list(resolved.tasks) if resolved is not None and resolved.kind != "engine" else None
            return store.acknowledge_items(session, now, ids=ids, tasks=tasks)

        return await self.database.run_in_transaction(apply)

    async def snooze(self, item_id: int, until: datetime) -> ReportItemRef:
        """Silence one open item until a time; it is told again then if it is still open."""
        now = self.clock.now()
        if until <= now:
            raise ConfigurationError("That time has already passed; say how long to snooze it for.")

        def apply(session: Any) -> ReportItemRef:
            row = store.open_items(session, [item_id]).get(item_id)
            if row is None:
                raise ConfigurationError(_not_open([item_id]))
            store.snooze_item(session, item_id, until)
            return ReportItemRef(row.id, row.task_name, row.message)

        return await self.database.run_in_transaction(apply)

    async def notifications(self, limit: int = 50) -> list[dict[str, Any]]:
        """What the heartbeat told lately, and where each notification went."""
        def read() -> list[dict[str, Any]]:
            with self.database.sessions() as session:
                return alerts.recent(session, limit)

        return await self.database.run(read)

    async def get_status(self) -> EngineStatus:
        """What the status tool, the status resource and the health routes say.

        Asked while a heavy cycle runs, it must not wait on the database: while
        the loop runs, the facts come from the snapshot it keeps (see
        snapshot.py). The database's state is the engine's flag, read now, so
        an outage the engine has met shows at once, whatever the snapshot holds.
        """
        now = self.clock.now()
        facts = await self.snapshot.read()
        if self.database_ok is False:
            facts = None
        state = facts.engine if facts else None
        rows = state.tasks if state else ()
        paused = bool(state and store.is_paused(state.paused, state.paused_until, now))
        if not self.running:
            engine_state = "stopped"
        elif not self.settings.enabled:
            engine_state = "disabled"
        else:
            engine_state = "paused" if paused else "running"
        active = [r for r in rows if r.enabled and not store.is_paused(r.paused, r.paused_until, now)]
        upcoming = min(active, key=lambda r: r.next_run_at or now, default=None)
        return EngineStatus(
            state=engine_state,
            paused_until=state.paused_until if paused and state else None,
            database="down" if self.database_ok is False else "ok",
            database_error=self.database_error,
            replica=self.replica_id,
            replicas=state.replicas if state else 0,
            tasks_enabled=sum(1 for r in rows if r.enabled),
            tasks_total=len(rows),
            tasks_paused=[r.name for r in rows if store.is_paused(r.paused, r.paused_until, now)],
            tasks_failing=[r.name for r in rows if r.consecutive_failures > 0],
            next_task=upcoming.name if upcoming else None,
            next_run_at=upcoming.next_run_at if upcoming else None,
            last_cycle=max((r.last_run_at for r in rows if r.last_run_at), default=None),
            base_interval_seconds=(state.base_interval_seconds if state and state.base_interval_seconds else self.settings.interval_seconds),
            checklist=str(self.checklist_path) if self.checklist_path else "",
            checklist_error=self.checklist_error,
            running_tasks=sorted(self._inflight),
            uptime_seconds=round(self.uptime, 1),
            open_items=facts.open_items if facts else {},
            top_item=facts.top_item if facts else None,
        )


@dataclass(frozen=True)
class ReportItemRef:
    id: int
    task: str
    message: str


def _not_open(ids: Sequence[int]) -> str:
    if len(ids) == 1:
        return f"Action item {ids[0]} is not open: it was resolved already, or the number is wrong."
    return f"Action items {spoken_list([str(i) for i in ids])} are not open: they were resolved, or the numbers are wrong."


class _Worker:
    """Shared between the loop and a task's worker thread, to stop it from outside.

    The thread fills in `outcome` or `error` itself and sets `finished`, so a
    run the loop has given up waiting for can still be seen to end.
    """

    def __init__(self) -> None:
        self.connection: Any = None  # the driver connection the run is on now
        self.checked = False  # the handler has returned: only the run's own record is left to write
        self.abandoned = False
        self.finished = threading.Event()
        self.outcome: RunOutcome | None = None
        self.error: BaseException | None = None

    def watch(self, dbapi_connection: Any) -> None:
        self.connection = dbapi_connection


def _unwatched(_dbapi_connection: Any) -> None:
    """No run to interrupt: the record of a check that ran on the event loop."""


_TAKEN_OVER = "taken over by another replica"


async def _execute_sync(engine: HeartbeatEngine, spec: TaskSpec, ctx: CheckContext, running: _InFlight,
                        trigger: str, cycle_id: str, t0: float) -> RunOutcome:
    """Run a synchronous check in a worker thread, in the transaction that also records its run.

    A read-only check's transaction ends when it returns (it wrote nothing),
    and its run is recorded in a transaction of its own.

    At the timeout (or when the lease is lost) the statement the thread is
    running is interrupted, so its transaction rolls back at once; a thread
    stuck outside the database is abandoned after a short grace.
    """
    claim, worker = running.claim, _Worker()
    timeout = claim.timeout_seconds

    def on_begin(connection: Any) -> None:
        worker.watch(connection.connection.dbapi_connection)
        if not engine.database.is_sqlite and not worker.checked:
            # PostgreSQL stops the check's statements itself at the deadline, even if we cannot.
            connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")

    def work() -> None:
        try:
            outcome = None
            sessions = engine.database.readers if spec.read_only else engine.database.sessions
            with engine.database.on_begin(on_begin), sessions() as session:
                ctx.session = session
                result = spec.handler(ctx)
                worker.checked = True
                if not isinstance(result, CheckResult):
                    raise TypeError(f"{spec.name} returned {type(result).__name__}, not CheckResult")
                if worker.abandoned:
                    raise TimeoutError("abandoned after its timeout")
                record = engine._run_record(claim, trigger, cycle_id, ctx.now, t0, result)
                if session.in_transaction() and not spec.read_only:
                    # The check used its session: its writes commit with the run's record or not at all.
                    outcome = engine._record(session.connection(), session, spec, record, result)
                    session.commit()
            if outcome is None:
                outcome = engine._record_alone(spec, record, result, worker)
            worker.outcome = outcome  # only once committed
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, which records it
            worker.error = exc
        finally:
            worker.finished.set()

    with anyio.move_on_after(timeout) as scope:
        running.stop = scope
        await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    if not worker.finished.is_set():
        # Timed out or taken over: stop the statement it is running, give it a moment to roll back.
        worker.abandoned = True
        if worker.connection is not None:
            try:
                interrupt(worker.connection)
            except Exception:  # noqa: BLE001 - best effort; the abandon flag still holds
                log.debug("could not interrupt %s", spec.name, exc_info=True)
        await anyio.to_thread.run_sync(worker.finished.wait, TIMEOUT_GRACE_SECONDS, abandon_on_cancel=True)
    if worker.outcome is not None:
        return worker.outcome
    if isinstance(worker.error, store.LeaseLost) or running.lost:
        return RunOutcome(spec.name, RunStatus.failed, _ms(t0), error=_TAKEN_OVER, recorded=False)
    if worker.abandoned or is_cancelled_statement(worker.error):
        status, error = RunStatus.timed_out, TimeoutError(f"timed out after {speak_duration(timeout)}")
    else:
        status, error = RunStatus.failed, worker.error
    return await engine._record_failure_safely(spec, claim, trigger, cycle_id, ctx.now, t0, status, error)


async def _execute_async(engine: HeartbeatEngine, spec: TaskSpec, ctx: CheckContext, running: _InFlight,
                         trigger: str, cycle_id: str, t0: float) -> RunOutcome:
    """Run an asynchronous check (a network probe) on the loop, then record it in a worker thread."""
    claim = running.claim
    error: BaseException | None = None
    result: CheckResult | None = None
    with anyio.move_on_after(claim.timeout_seconds) as scope:
        running.stop = scope
        try:
            result = await spec.handler(ctx)  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001 - recorded as the run's failure
            error = exc
    if running.lost:
        return RunOutcome(spec.name, RunStatus.failed, _ms(t0), error=_TAKEN_OVER, recorded=False)
    if scope.cancelled_caught:
        error = TimeoutError(f"timed out after {speak_duration(claim.timeout_seconds)}")
        return await engine._record_failure_safely(spec, claim, trigger, cycle_id, ctx.now, t0, RunStatus.timed_out,
                                                   error)
    if result is None:
        return await engine._record_failure_safely(spec, claim, trigger, cycle_id, ctx.now, t0, RunStatus.failed, error)

    def record() -> RunOutcome:
        return engine._record_alone(spec, engine._run_record(claim, trigger, cycle_id, ctx.now, t0, result), result)

    try:
        return await engine.database.run(record)
    except store.LeaseLost:
        return RunOutcome(spec.name, RunStatus.failed, _ms(t0), error=_TAKEN_OVER, recorded=False)
    except (OperationalError, DBAPIError) as exc:
        engine._database_down(exc)
        return RunOutcome(spec.name, result.status, _ms(t0), error=describe_error(exc), recorded=False)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


def _item_json(item: ActionItem) -> dict[str, Any]:
    return {
        "subject": item.subject, "priority": str(item.priority), "message": item.message,
        "next_step": item.next_step, **{f"affected_{k}": list(v) for k, v in item.affected.items()},
    }


