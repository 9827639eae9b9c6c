"""The engine over a simulated time line: schedules, persistence, faults."""

from __future__ import annotations

import threading
import time
from datetime import datetime, time as clock_time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest
from sqlalchemy import func, select, text, update

from heartbeat_mcp import store
from heartbeat_mcp.clock import FakeClock
from heartbeat_mcp.database import Database
from heartbeat_mcp.engine import ConfigurationError
from heartbeat_mcp.models import ActionItemRow, Replica, TaskConfig, TaskRun
from heartbeat_mcp.registry import TargetError
from heartbeat_mcp.schedule import DailyAt, Every
from heartbeat_mcp.singleton import EngineLocked
from heartbeat_mcp.task import ActionItem, CheckResult, Priority, RunStatus, TaskSpec
from tests.engine_support import engine_for, pack_of, quiet, run_until, runs

pytestmark = pytest.mark.anyio
START = datetime(2026, 3, 6, 12, 0, tzinfo=timezone.utc)
NEW_YORK = ZoneInfo("America/New_York")


def config(database: Database, task: str) -> TaskConfig:
    with database.sessions() as session:
        return session.scalars(select(TaskConfig).where(TaskConfig.task_name == task)).one()


async def test_tiered_schedules_fire_when_due_over_a_simulated_day(database: Database) -> None:
    pack = pack_of(("five_minutes", Every(300)), ("quarter_hour", Every(900)), ("hourly", Every(3600)))
    clock = FakeClock(START)
    engine = engine_for(database, pack, clock)
    await run_until(engine, clock, START + timedelta(days=1))

    for name, interval in (("five_minutes", 300), ("quarter_hour", 900), ("hourly", 3600)):
        slots = [r.scheduled_for for r in runs(database, name)]
        offset = store.jitter_seconds(name, interval)
        assert slots[0] == START + timedelta(seconds=offset)
        assert len(slots) == int((86400 - offset) // interval) + 1
        assert {b - a for a, b in zip(slots, slots[1:])} == {timedelta(seconds=interval)}
        # each run started at its slot: the loop woke exactly when the task was due
        assert all(r.started_at == r.scheduled_for for r in runs(database, name))


async def test_tasks_sharing_a_schedule_are_spread_and_followers_share_their_leader_offset(database: Database) -> None:
    specs = [TaskSpec(f"task_{i}", quiet, Every(300), "Tests") for i in range(5)]
    specs.append(TaskSpec("follower", quiet, Every(300), "Tests", after=("task_0",)))
    engine = engine_for(database, pack_of(*specs), FakeClock(START))
    await engine.tick()
    firsts = {name: config(database, name).next_run_at for name in [s.name for s in specs]}
    assert len({firsts[f"task_{i}"] for i in range(5)}) == 5
    assert all(START < t <= START + timedelta(seconds=30) for t in firsts.values())
    assert firsts["follower"] == firsts["task_0"]


@pytest.mark.parametrize(
    "start, days, expected_utc_hours",
    [
        # US daylight saving time begins on Sunday 8 March 2026 at 02:00
        (datetime(2026, 3, 6, 15, 0, tzinfo=timezone.utc), 4, [13, 12, 12, 12]),
        # and ends on Sunday 1 November 2026 at 02:00
        (datetime(2026, 10, 30, 15, 0, tzinfo=timezone.utc), 4, [12, 13, 13, 13]),
    ],
)
async def test_daily_task_fires_at_local_eight_on_both_sides_of_a_dst_change(
    database: Database, start: datetime, days: int, expected_utc_hours: list[int]
) -> None:
    pack = pack_of(("morning", DailyAt(clock_time(8, 0), "America/New_York")), ("hourly", Every(3600)))
    clock = FakeClock(start)
    engine = engine_for(database, pack, clock, timezone="America/New_York")
    await run_until(engine, clock, start + timedelta(days=days))

    mornings = runs(database, "morning")
    assert [r.started_at.astimezone(NEW_YORK).time() for r in mornings] == [clock_time(8, 0)] * days
    assert [r.started_at.hour for r in mornings] == expected_utc_hours
    assert len({r.started_at.astimezone(NEW_YORK).date() for r in mornings}) == days


async def test_missed_runs_collapse_into_one_and_keep_their_phase(database: Database) -> None:
    pack = pack_of(("five_minutes", Every(300)), ("hourly", Every(3600)))
    clock = FakeClock(START)
    engine = engine_for(database, pack, clock)
    await run_until(engine, clock, START + timedelta(hours=1))
    before = {name: len(runs(database, name)) for name in ("five_minutes", "hourly")}
    phase = config(database, "five_minutes").next_run_at

    clock.advance(timedelta(hours=3, minutes=2))  # the process was down; nothing ran
    cycle = await engine.tick()
    assert cycle is not None and sorted(cycle.runs) == ["five_minutes", "hourly"]
    assert {name: len(runs(database, name)) for name in before} == {k: v + 1 for k, v in before.items()}
    assert await engine.tick() is None  # nothing else is due: the backlog was one run each
    following = config(database, "five_minutes").next_run_at
    assert following > clock.now()
    assert (following - phase).total_seconds() % 300 == 0


@pytest.mark.parametrize(("after_slow_took", "order"), [
    # slow and the task after it are the most work in a row; once slow is done, medium (300 ms) still has more
    # ahead of it than after_slow (100 ms)
    (100, ["slow", "medium", "after_slow", "cheap"]),
    # after_slow (400 ms) has more than medium, which had been waiting since the cycle began: slow's slot is its own
    (400, ["slow", "after_slow", "medium", "cheap"]),
])
async def test_a_cycle_starts_the_longest_chain_first_as_its_tasks_last_took(
    database: Database, after_slow_took: int, order: list[str]
) -> None:
    started: list[str] = []

    def handler(ctx: Any) -> CheckResult:
        started.append(ctx.task)
        return CheckResult()

    specs = [TaskSpec("cheap", handler, Every(300), "Tests"), TaskSpec("medium", handler, Every(300), "Tests"),
             TaskSpec("slow", handler, Every(300), "Tests"),
             TaskSpec("after_slow", handler, Every(300), "Tests", after=("slow",))]
    took = {"cheap": 10, "medium": 300, "slow": 500, "after_slow": after_slow_took}
    with database.transaction() as session:  # as a previous process recorded them
        session.add_all(TaskRun(task_name=name, scheduled_for=START - timedelta(minutes=5), trigger="schedule",
                                started_at=START - timedelta(minutes=5), finished_at=START - timedelta(minutes=5),
                                duration_ms=ms, status="success", replica="earlier") for name, ms in took.items())
    await engine_for(database, pack_of(*specs), FakeClock(START), max_concurrency=1).execute_cycle()
    assert started == order


async def test_restart_resumes_from_persisted_schedule(database: Database) -> None:
    pack = pack_of(("five_minutes", Every(300)), ("hourly", Every(3600)))
    clock = FakeClock(START)
    first = engine_for(database, pack, clock)
    await run_until(first, clock, START + timedelta(minutes=30))
    total = len(runs(database))
    scheduled = {name: config(database, name).next_run_at for name in ("five_minutes", "hourly")}

    clock.set(min(scheduled.values()) - timedelta(seconds=1))
    restarted = engine_for(database, pack, clock)  # a new process: nothing in memory
    assert await restarted.tick() is None
    assert len(runs(database)) == total
    assert {name: config(database, name).next_run_at for name in scheduled} == scheduled
    clock.set(scheduled["five_minutes"])
    cycle = await restarted.tick()
    assert cycle is not None and list(cycle.runs) == ["five_minutes"]


async def test_a_raising_task_is_recorded_backs_off_and_alerts_without_touching_others(database: Database) -> None:
    def boom(ctx):
        raise RuntimeError("kaboom")

    pack = pack_of(TaskSpec("boom", boom, Every(60), "Tests", priority=Priority.high), ("steady", Every(60)))
    clock = FakeClock(START)
    engine = engine_for(database, pack, clock)
    assert await engine.tick() is None  # creates the schedule: first runs within their jitter
    clock.advance(61)
    delays = []
    for _ in range(4):
        cycle = await engine.tick()
        assert cycle is not None and cycle.runs["boom"].status is RunStatus.failed
        row = config(database, "boom")
        delays.append((row.next_run_at - clock.now()).total_seconds())
        clock.set(row.next_run_at)
    assert delays == [60, 120, 240, 480]
    failed = runs(database, "boom")
    assert {r.status for r in failed} == {"failed"} and failed[0].error == "RuntimeError: kaboom"
    assert config(database, "boom").consecutive_failures == 4
    assert {r.status for r in runs(database, "steady")} == {"success"}
    with database.sessions() as session:
        alert = session.scalars(select(ActionItemRow).where(ActionItemRow.task_name == "boom")).one()
    assert alert.priority == "high" and alert.resolved_at is None
    assert alert.message == "The boom check has failed 4 times in a row: RuntimeError: kaboom"
    report = await engine.report()
    assert report.status == "degraded" and "boom" in report.speech


def _slow_statement(database: Database) -> str:
    if database.is_sqlite:
        return "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM (SELECT i FROM n LIMIT 5000000000)"
    return "SELECT pg_sleep(30)"


async def test_a_task_hanging_in_the_database_times_out_and_its_statement_is_stopped(database: Database) -> None:
    statement = _slow_statement(database)

    def hangs(ctx):
        ctx.session.execute(text(statement))
        return CheckResult()

    pack = pack_of(TaskSpec("hangs", hangs, Every(60), "Tests", timeout_seconds=1.0), ("steady", Every(60)))
    clock = FakeClock(START)
    engine = engine_for(database, pack, clock)
    assert await engine.tick() is None  # creates the schedule: first runs within their jitter
    clock.advance(61)
    started = time.monotonic()
    cycle = await engine.tick()
    elapsed = time.monotonic() - started
    assert cycle is not None
    assert cycle.runs["hangs"].status is RunStatus.timed_out
    assert cycle.runs["steady"].status is RunStatus.success
    assert elapsed < 4, "the statement was interrupted, not waited for"
    assert runs(database, "hangs")[0].status == "timed_out"
    clock.advance(120)
    assert (await engine.tick()) is not None  # the loop beats on


async def test_a_task_hanging_outside_the_database_is_abandoned(database: Database) -> None:
    def sleeps(ctx):
        time.sleep(6)
        return CheckResult(items=[ActionItem("late", Priority.low, "too late")])

    pack = pack_of(TaskSpec("sleeps", sleeps, Every(60), "Tests", timeout_seconds=0.5), ("steady", Every(60)))
    clock = FakeClock(START)
    engine = engine_for(database, pack, clock)
    assert await engine.tick() is None  # creates the schedule: first runs within their jitter
    clock.advance(61)
    started = time.monotonic()
    cycle = await engine.tick()
    assert time.monotonic() - started < 5
    assert cycle.runs["sleeps"].status is RunStatus.timed_out
    await anyio.sleep(6)  # let the abandoned thread finish: its work must not commit
    assert [r.status for r in runs(database, "sleeps")] == ["timed_out"]
    with database.sessions() as session:
        assert session.scalars(select(ActionItemRow).where(ActionItemRow.task_name == "sleeps")).all() == []


@pytest.mark.parametrize(("writes", "finds"), [(True, True), (False, True), (False, False)],
                         ids=["check-writes", "check-finds", "check-does-nothing"])
async def test_a_run_whose_task_another_replica_took_over_commits_nothing(
    database: Database, writes: bool, finds: bool,
) -> None:
    def taken_over(ctx):
        with database.transaction() as session:  # what a replica does once it finds the lease expired
            session.execute(update(TaskConfig).where(TaskConfig.task_name == "taken").values(lease_owner="other/1"))
        if writes:
            ctx.session.add(Replica(id="written by the run", hostname="h", pid=1, started_at=ctx.now,
                                    last_seen=ctx.now, transports=""))
        return CheckResult(items=[ActionItem("found", Priority.high, "Something to do.")] if finds else [])

    engine = engine_for(database, pack_of(TaskSpec("taken", taken_over, Every(60), "Tests")), FakeClock(START))
    async with engine.standalone():
        run = (await engine.execute_cycle("taken")).runs["taken"]
    assert (run.status, run.error, run.recorded) == (RunStatus.failed, "taken over by another replica", False)
    assert runs(database, "taken") == []
    row = config(database, "taken")
    assert (row.lease_owner, row.last_run_at) == ("other/1", None)
    with database.sessions() as session:
        assert session.get(Replica, "written by the run") is None
        assert session.scalars(select(ActionItemRow)).all() == []


async def test_read_only_checks_read_while_a_writing_check_holds_its_transaction(database: Database) -> None:
    wrote, read = threading.Event(), threading.Barrier(3, timeout=10)

    def writes(ctx):
        ctx.session.add(Replica(id="written", hostname="h", pid=1, started_at=ctx.now, last_seen=ctx.now,
                                transports=""))
        ctx.session.flush()  # holds the write lock (on SQLite) until the run's record commits
        wrote.set()
        read.wait()  # both readers have read meanwhile, or this breaks the barrier
        return CheckResult()

    def reads(ctx):
        assert wrote.wait(10)
        count = ctx.session.execute(select(func.count()).select_from(TaskConfig)).scalar_one()
        read.wait()
        return CheckResult(items=[ActionItem(f"tasks:{count}", Priority.low, f"{count} tasks.")])

    pack = pack_of(TaskSpec("writes", writes, Every(60), "Tests"),
                   *(TaskSpec(name, reads, Every(60), "Tests", read_only=True) for name in ("reads_a", "reads_b")))
    engine = engine_for(database, pack, FakeClock(START))
    async with engine.standalone():
        cycle = await engine.execute_cycle()
    assert {name: run.status for name, run in cycle.runs.items()} == {
        "writes": RunStatus.success, "reads_a": RunStatus.action_needed, "reads_b": RunStatus.action_needed}
    with database.sessions() as session:
        assert session.get(Replica, "written") is not None
        found = session.scalars(select(ActionItemRow.task_name).where(ActionItemRow.message == "3 tasks.")).all()
    assert sorted(found) == ["reads_a", "reads_b"], "a reader's findings are recorded after its transaction"


async def test_a_read_only_check_that_writes_fails_and_its_write_is_refused(database: Database) -> None:
    def breaks_its_word(ctx):
        ctx.session.add(Replica(id="not written", hostname="h", pid=1, started_at=ctx.now, last_seen=ctx.now,
                                transports=""))
        ctx.session.flush()
        return CheckResult()

    pack = pack_of(TaskSpec("sneaky", breaks_its_word, Every(60), "Tests", read_only=True))
    engine = engine_for(database, pack, FakeClock(START))
    async with engine.standalone():
        run = (await engine.execute_cycle()).runs["sneaky"]
    assert run.status is RunStatus.failed and "read" in run.error.lower()
    assert [r.status for r in runs(database, "sneaky")] == ["failed"]
    with database.sessions() as session:
        assert session.get(Replica, "not written") is None


async def test_a_second_engine_on_the_same_sqlite_file_is_refused(tmp_path) -> None:
    from heartbeat_mcp.migrate import upgrade
    from heartbeat_mcp.plugins import load_packs

    database = Database(f"sqlite:///{tmp_path / 'one.db'}")
    upgrade(database, load_packs())
    pack = pack_of(("quick", Every(60)))
    async with engine_for(database, pack).standalone():
        with pytest.raises(EngineLocked, match="already running.*use PostgreSQL"):
            async with engine_for(database, pack).standalone():
                pass
    async with engine_for(database, pack).standalone():  # released: a new engine may start
        pass


async def test_pause_resume_and_configure_persist_and_reject_bad_input(database: Database) -> None:
    pack = pack_of(
        TaskSpec("stale_properties", quiet, Every(300), "Portfolio monitoring", description="Flag stale properties"),
        TaskSpec("market_shifts", quiet, Every(900), "Market intelligence", description="Detect market shifts"),
        TaskSpec("price_changes", quiet, Every(900), "Market intelligence", description="Track price changes"),
    )
    clock = FakeClock(START)
    engine = engine_for(database, pack, clock)
    await engine.tick()

    target = await engine.configure("market intelligence", enabled=False)
    assert target.kind == "group" and set(target.tasks) == {"market_shifts", "price_changes"}
    assert not config(database, "market_shifts").enabled
    await engine.configure("stale property monitoring", interval=timedelta(minutes=10))
    assert config(database, "stale_properties").schedule == "every 10 minutes"

    snapshot = [(r.task_name, r.enabled, r.schedule, r.paused) for r in engine._rows_sync()]
    for call in (
        engine.configure("banana checks", enabled=True),
        engine.configure("stale_properties", interval=timedelta(seconds=5)),
        engine.configure("stale_properties", interval=timedelta(days=30)),
        engine.pause("nonexistent group"),
    ):
        with pytest.raises((TargetError, ConfigurationError)):
            await call
    assert [(r.task_name, r.enabled, r.schedule, r.paused) for r in engine._rows_sync()] == snapshot

    await engine.pause(None, until=START + timedelta(hours=2))
    restarted = engine_for(database, pack, clock)
    clock.advance(timedelta(hours=1))
    assert await restarted.tick() is None  # still paused after a restart
    clock.advance(timedelta(hours=1, seconds=1))
    assert await restarted.tick() is not None  # the pause ended by itself
