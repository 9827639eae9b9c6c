"""Every statement the engine issues, in one place.

Like procrastinate's manager, the engine's SQL is kept visible here rather
than spread through the loop. Functions take a Session inside a transaction
(those on every run's path a Core Connection: the ORM adds only cost there)
and run in worker threads. Claims are leases: a row is claimed by writing a
per-batch token into `lease_owner`, and every later write about that run
checks the token, so a replica that lost its lease can never record (or
commit the writes of) a run that another replica has taken over.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean, Connection, Integer, String, Text, and_, bindparam, case, delete, exists, func, insert, literal, or_,
    select, true, update,
)
from sqlalchemy.orm import Session

from heartbeat_mcp.database import Database, SQLiteStatement, insert_with_conflicts, json_rows
from heartbeat_mcp.models import ActionItemRow, Delivery, EngineState, OutboxNotification, TaskConfig, TaskRun
from heartbeat_mcp.schedule import EVERY_CYCLE
from heartbeat_mcp.sqltypes import JSONDocument, UTCDateTime
from heartbeat_mcp.task import ActionItem, Priority

ENGINE_ROW = 1
# The subject of the alert the engine raises for a task that keeps failing.
FAILING_SUBJECT = "task_failing"
_CONFIG, _RUNS, _ITEMS = TaskConfig.__table__, TaskRun.__table__, ActionItemRow.__table__


class LeaseLost(RuntimeError):
    """Another replica took this task over; the run's writes must not commit."""


@dataclass(frozen=True)
class Claim:
    task: str
    scheduled_for: datetime
    token: str
    timeout_seconds: float
    consecutive_failures: int
    schedule: str
    schedule_seconds: int


@dataclass(frozen=True)
class TaskDefaults:
    """A task's configuration from the registry and HEARTBEAT.md (the file layer)."""

    name: str
    group: str
    enabled: bool
    schedule: str
    schedule_seconds: int
    timeout_seconds: float
    first_run_at: datetime  # for a new row: soon (after its jitter) or at its first daily time


def jitter_seconds(task: str, interval_seconds: int) -> float:
    """A stable offset so tasks sharing a schedule do not all start in the same instant."""
    spread = min(interval_seconds * 0.1, 30.0)
    digest = int(hashlib.sha256(task.encode()).hexdigest()[:8], 16)
    return (digest % 1000) / 1000 * spread


# --- engine state -------------------------------------------------------------------


def engine_state(session: Session, now: datetime) -> EngineState:
    state = session.get(EngineState, ENGINE_ROW)
    if state is None:
        insert_missing(session, EngineState, [{"id": ENGINE_ROW, "paused": False, "config_version": 0, "updated_at": now}])
        state = session.get(EngineState, ENGINE_ROW)
    return state


def insert_missing(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: replicas starting together create each row once."""
    if not rows:
        return
    session.execute(insert_with_conflicts(session, model).on_conflict_do_nothing(), rows)


def set_engine_paused(session: Session, now: datetime, paused: bool, until: datetime | None) -> None:
    state = engine_state(session, now)
    state.paused, state.paused_until, state.updated_at = paused, until, now
    state.config_version += 1


def set_base_interval(session: Session, now: datetime, seconds: int) -> None:
    """Re-time the base cycle and every task that follows it (not those re-timed on their own)."""
    state = engine_state(session, now)
    state.base_interval_seconds, state.updated_at = seconds, now
    state.config_version += 1
    for row in session.scalars(
        select(TaskConfig).where(TaskConfig.schedule == EVERY_CYCLE, TaskConfig.override_schedule.is_(None))
    ):
        row.schedule_seconds = seconds
        row.next_run_at = _earlier(row.next_run_at, now + timedelta(seconds=seconds))
        row.updated_at = now


def is_paused(paused: bool, until: datetime | None, now: datetime) -> bool:
    return paused and (until is None or until > now)


# --- configuration ------------------------------------------------------------------


def sync_tasks(session: Session, defaults: Sequence[TaskDefaults], now: datetime) -> None:
    """Create rows for new tasks and apply the file layer where no run-time change overrides it.

    A changed schedule moves `next_run_at` only earlier (never a second run
    for the same period).
    """
    existing = set(session.scalars(select(TaskConfig.task_name)))
    insert_missing(session, TaskConfig, [
        {
            "task_name": d.name, "group_name": d.group, "enabled": d.enabled, "schedule": d.schedule,
            "schedule_seconds": d.schedule_seconds, "timeout_seconds": d.timeout_seconds, "paused": False,
            "consecutive_failures": 0, "next_run_at": d.first_run_at, "created_at": now, "updated_at": now,
        }
        for d in defaults if d.name not in existing
    ])
    rows = {r.task_name: r for r in session.scalars(select(TaskConfig))}
    for d in defaults:
        row = rows[d.name]
        if d.name not in existing:
            continue
        row.group_name, row.timeout_seconds = d.group, d.timeout_seconds
        if row.override_enabled is None:
            row.enabled = d.enabled
        if row.override_schedule is None and (row.schedule, row.schedule_seconds) != (d.schedule, d.schedule_seconds):
            row.schedule, row.schedule_seconds = d.schedule, d.schedule_seconds
            row.next_run_at = _earlier(row.next_run_at, now + timedelta(seconds=d.schedule_seconds))
        row.updated_at = now


def _earlier(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate < current else current


def task_rows(session: Session, names: Iterable[str] | None = None) -> list[TaskConfig]:
    query = select(TaskConfig).order_by(TaskConfig.id)
    if names is not None:
        query = query.where(TaskConfig.task_name.in_(list(names)))
    return list(session.scalars(query))


class TaskSwitch(NamedTuple):
    group_name: str
    enabled: bool


def task_switches(connection: Connection) -> dict[str, TaskSwitch]:
    """Each task's group and whether it is on: all that naming tasks and starting a cycle need."""
    query = select(_CONFIG.c.task_name, _CONFIG.c.group_name, _CONFIG.c.enabled)
    return {name: TaskSwitch(group, enabled) for name, group, enabled in connection.execute(query)}


def set_enabled(session: Session, names: Sequence[str], enabled: bool, now: datetime) -> None:
    values: dict[str, Any] = {"enabled": enabled, "override_enabled": enabled, "updated_at": now}
    session.execute(update(TaskConfig).where(TaskConfig.task_name.in_(names)).values(**values))
    if enabled:
        # A task enabled after a long pause runs soon, once, rather than never.
        session.execute(
            update(TaskConfig)
            .where(TaskConfig.task_name.in_(names), TaskConfig.next_run_at.is_(None))
            .values(next_run_at=now)
        )
    engine_state(session, now).config_version += 1


def set_schedule(session: Session, names: Sequence[str], schedule: str, seconds: int, now: datetime) -> None:
    for row in task_rows(session, names):
        row.override_schedule = row.schedule = schedule
        row.schedule_seconds = seconds
        row.next_run_at = _earlier(row.next_run_at, now + timedelta(seconds=seconds))
        row.updated_at = now
    engine_state(session, now).config_version += 1


def set_task_paused(session: Session, names: Sequence[str], paused: bool, until: datetime | None, now: datetime) -> None:
    session.execute(
        update(TaskConfig)
        .where(TaskConfig.task_name.in_(names))
        .values(paused=paused, paused_until=until if paused else None, updated_at=now)
    )
    engine_state(session, now).config_version += 1


# --- claiming and recording ---------------------------------------------------------


def claim_due(session: Session, names: Sequence[str], now: datetime, token: str, lease: timedelta, limit: int) -> list[Claim]:
    """Lease the due tasks: one statement, safe with many replicas.

    On PostgreSQL the sub-select locks candidate rows with FOR UPDATE SKIP
    LOCKED, so two replicas never claim the same row; a row whose lease was
    just taken is re-checked and skipped. SQLite has one writer at a time.
    """
    due = (
        select(TaskConfig.id)
        .where(
            TaskConfig.task_name.in_(names),
            TaskConfig.enabled.is_(True),
            TaskConfig.next_run_at <= now,
            or_(TaskConfig.lease_until.is_(None), TaskConfig.lease_until < now),
            or_(TaskConfig.paused.is_(False), TaskConfig.paused_until <= now),
        )
        .order_by(TaskConfig.next_run_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return _lease(session, TaskConfig.id.in_(due.scalar_subquery()), now, token, lease, scheduled=True)


def claim_now(session: Session, names: Sequence[str], now: datetime, token: str, lease: timedelta) -> list[Claim]:
    """Lease named tasks for a manual run, whatever their schedule, unless one is running."""
    return _lease(session, TaskConfig.task_name.in_(names), now, token, lease, scheduled=False)


def _lease(session: Session, where: Any, now: datetime, token: str, lease: timedelta, *, scheduled: bool) -> list[Claim]:
    # On the table, not the mapped class: a Core UPDATE skips the ORM's bulk-update machinery.
    stmt = (
        update(_CONFIG)
        .where(where, or_(_CONFIG.c.lease_until.is_(None), _CONFIG.c.lease_until < now))
        .values(lease_owner=token, lease_until=now + lease)
        .returning(
            _CONFIG.c.task_name, _CONFIG.c.next_run_at, _CONFIG.c.timeout_seconds,
            _CONFIG.c.consecutive_failures, _CONFIG.c.schedule, _CONFIG.c.schedule_seconds,
        )
    )
    return [
        Claim(name, next_run if scheduled and next_run else now, token, timeout, failures, schedule, seconds)
        for name, next_run, timeout, failures, schedule, seconds in session.execute(stmt)
    ]


def renew_lease(session: Session, tasks: Sequence[str], token: str, until: datetime) -> set[str]:
    """Extend our leases; returns the tasks another replica has taken over.

    A task whose lease we no longer hold but nobody else does either has just
    been recorded (recording clears the lease): that run is over, not lost.
    """
    held = set(session.scalars(
        update(TaskConfig)
        .where(TaskConfig.task_name.in_(tasks), TaskConfig.lease_owner == token)
        .values(lease_until=until)
        .returning(TaskConfig.task_name)
        .execution_options(synchronize_session=False)
    ))
    others = [t for t in tasks if t not in held]
    if not others:
        return set()
    return set(session.scalars(
        select(TaskConfig.task_name).where(TaskConfig.task_name.in_(others), TaskConfig.lease_owner.is_not(None))
    ))


@dataclass(frozen=True)
class RunRecord:
    claim: Claim
    trigger: str
    cycle_id: str
    replica: str
    started_at: datetime
    finished_at: datetime
    duration_ms: float
    status: str
    error: str | None
    result: dict[str, Any]
    next_run_at: datetime | None  # None: keep the current schedule (manual runs)
    failed: bool


# Every statement that records a run is built once; the parameters say whether the run failed and what
# comes next. The task's row changes only while we hold its lease.
_UPDATE_TASK = (
    update(_CONFIG)
    .where(_CONFIG.c.task_name == bindparam("task"), _CONFIG.c.lease_owner == bindparam("token"))
    .values(
        last_run_at=bindparam("finished_at"), last_status=bindparam("status"), last_result=bindparam("result"),
        last_error=bindparam("error"), lease_owner=None, lease_until=None, updated_at=bindparam("finished_at"),
        consecutive_failures=case((bindparam("failed", type_=Boolean()), _CONFIG.c.consecutive_failures + 1), else_=0),
        last_success_at=func.coalesce(bindparam("success_at", type_=UTCDateTime()), _CONFIG.c.last_success_at),
        next_run_at=func.coalesce(bindparam("next_run_at", type_=UTCDateTime()), _CONFIG.c.next_run_at),
    )
)
# Whether the task has open action items (the run's own writes included): a run that found nothing, for a
# task with nothing open, has nothing to sync and costs no further statement.
_OPEN_ITEMS = exists().where(_ITEMS.c.task_name == bindparam("task"), _ITEMS.c.resolved_at.is_(None))
_HAS_OPEN = _OPEN_ITEMS.label("has_open")
# The run's history row: column -> parameter.
_HISTORY = {
    column: bindparam(param, type_=_RUNS.c[column].type) for column, param in (
        ("task_name", "task"), ("scheduled_for", "scheduled_for"), ("trigger", "trigger"),
        ("started_at", "started_at"), ("finished_at", "finished_at"), ("duration_ms", "duration_ms"),
        ("status", "status"), ("error", "error"), ("result", "summary"), ("replica", "replica"),
        ("cycle_id", "cycle_id"),
    )
}
# SQLite: the task's row (answering whether anything is open), then the history row.
_RECORD_TASK = _UPDATE_TASK.returning(_HAS_OPEN)
_INSERT_HISTORY = insert(_RUNS).values(_HISTORY)


def _in_one(update_task: Any, *, answer_open: bool) -> Any:
    """PostgreSQL: the task's row and the history row in one statement, answering with a row only if written."""
    recorded = update_task.returning(_CONFIG.c.task_name).cte("recorded")
    history = insert(_RUNS).from_select(list(_HISTORY), select(*_HISTORY.values()).select_from(recorded))
    answer = _HAS_OPEN if answer_open else recorded.c.task_name
    return select(answer).select_from(recorded).add_cte(history.cte("history"))


_RECORD_RUN_IN_ONE = _in_one(_UPDATE_TASK, answer_open=True)
# A run that found nothing, while its task has nothing open, needs no other write: on PostgreSQL one
# statement that commits by itself records it; on SQLite the same two statements as any run, run on the driver.
_RECORD_QUIET_RUN = _in_one(_UPDATE_TASK.where(~_OPEN_ITEMS), answer_open=False)
_QUIET_TASK_ON_SQLITE = SQLiteStatement(_UPDATE_TASK.where(~_OPEN_ITEMS).returning(_CONFIG.c.task_name))
_HISTORY_ON_SQLITE = SQLiteStatement(_INSERT_HISTORY)


def record_run(connection: Connection, run: RunRecord) -> bool:
    """Record a finished run in the run's own transaction, if we still hold its lease.

    Returns whether the task has open action items (its own run's writes included).
    """
    params = _run_params(run)
    if connection.dialect.name == "postgresql":
        has_open = connection.execute(_RECORD_RUN_IN_ONE, params).scalar_one_or_none()
    else:
        has_open = connection.execute(_RECORD_TASK, params).scalar_one_or_none()
        if has_open is not None:
            connection.execute(_INSERT_HISTORY, params)
    if has_open is None:
        raise LeaseLost(f"task {run.claim.task} was taken over by another replica")
    return bool(has_open)


def record_quiet_run(database: Database, run: RunRecord, watch: Callable[[Any], None]) -> bool:
    """Record a run that found nothing, as cheaply as each database allows.

    PostgreSQL: one statement on a connection in autocommit. SQLite: the
    task's row and the history row in a transaction on the driver's
    connection (`SQLiteStatement`). `watch` is handed the driver connection
    first, so a timeout can interrupt it. True once recorded. False, with
    nothing written, when the task has open items (resolving them belongs in
    the record's own transaction) or the lease is gone: `record_run` in a
    transaction then says which, and does it.
    """
    params = _run_params(run)
    if database.is_sqlite:
        with database.sqlite_write() as connection:
            watch(connection)
            if _QUIET_TASK_ON_SQLITE.run(connection, params).fetchone() is None:
                return False
            _HISTORY_ON_SQLITE.run(connection, params)
            return True
    with database.autocommit() as connection:
        watch(connection.connection.dbapi_connection)
        return connection.execute(_RECORD_QUIET_RUN, params).first() is not None


def _run_params(run: RunRecord) -> dict[str, Any]:
    return {
        "task": run.claim.task, "token": run.claim.token, "finished_at": run.finished_at, "status": run.status,
        "result": run.result, "error": run.error, "failed": run.failed,
        "success_at": None if run.failed else run.finished_at, "next_run_at": run.next_run_at,
        "scheduled_for": run.claim.scheduled_for, "trigger": run.trigger, "started_at": run.started_at,
        "duration_ms": run.duration_ms, "summary": _summary(run.result), "replica": run.replica,
        "cycle_id": run.cycle_id,
    }


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """History keeps counts and metrics, not every finding (those live in action items)."""
    return {k: v for k, v in result.items() if k in ("item_count", "metrics", "status")}


def recent_runs(session: Session, task: str, limit: int) -> list[TaskRun]:
    """A task's latest runs, newest first (the task detail resource shows them)."""
    return list(session.scalars(
        select(TaskRun).where(TaskRun.task_name == task).order_by(TaskRun.started_at.desc(), TaskRun.id.desc()).limit(limit)
    ))


def latest_durations(session: Session) -> dict[str, float]:
    """Each task's latest run time in milliseconds: what the engine expects its next run to take."""
    latest = (
        select(TaskRun.task_name, func.max(TaskRun.started_at).label("started_at"))
        .group_by(TaskRun.task_name).subquery()
    )
    return {task: duration_ms for task, duration_ms in session.execute(
        select(TaskRun.task_name, TaskRun.duration_ms)
        .join(latest, and_(TaskRun.task_name == latest.c.task_name, TaskRun.started_at == latest.c.started_at))
    )}


def prune_history(session: Session, now: datetime, keep_days: int, keep_per_task: int) -> int:
    """Bounded history: runs older than `keep_days` or beyond `keep_per_task` per task, items resolved
    and notifications sent more than `keep_days` ago. A notification still waiting for a channel is kept."""
    cutoff = now - timedelta(days=keep_days)
    old = session.execute(delete(TaskRun).where(TaskRun.started_at < cutoff)).rowcount
    ranked = select(
        TaskRun.id, func.row_number().over(partition_by=TaskRun.task_name, order_by=TaskRun.started_at.desc()).label("n")
    ).subquery()
    excess = select(ranked.c.id).where(ranked.c.n > keep_per_task)
    old += session.execute(delete(TaskRun).where(TaskRun.id.in_(excess))).rowcount
    old += session.execute(delete(ActionItemRow).where(ActionItemRow.resolved_at < cutoff)).rowcount
    waiting = select(Delivery.id).where(Delivery.notification_id == OutboxNotification.id, Delivery.status == "pending")
    old += session.execute(
        delete(OutboxNotification).where(OutboxNotification.created_at < cutoff, ~waiting.exists())
    ).rowcount
    return old


# --- action items -------------------------------------------------------------------


@dataclass(frozen=True)
class Synced:
    """What syncing a run's findings left: whether the task has open items, and which items ended now."""

    has_open: bool
    resolved: list[tuple[int, str]]  # (item id, subject)


def fingerprint(task: str, subject: str) -> str:
    return f"{task}:{subject}"


def sync_items(
    session: Session, task: str, items: Sequence[ActionItem], now: datetime, *, resolve_missing: bool = True
) -> Synced:
    """Make the task's open items match what the run found: one upsert and one UPDATE, whatever their number.

    Seen again: same row, `last_seen` moves. New or back after resolving: a
    fresh occurrence. Not seen any more: resolved now — unless
    `resolve_missing` is off, for an alert added beside the task's findings.
    A run at portfolio scale reports thousands of findings every cycle, most
    of them seen before: they go to the database as one JSON parameter and
    are matched there by fingerprint, with no row read back and no ORM
    object made per item. A run that found nothing costs the one UPDATE.
    """
    latest: dict[str, ActionItem] = {}
    for item in items:
        key = fingerprint(task, item.subject)
        kept = latest.get(key)
        if kept is None or Priority(item.priority).rank > Priority(kept.priority).rank:
            latest[key] = item
    if latest:
        session.execute(_upsert_items(session, task, latest, now))
    if not resolve_missing:
        return Synced(bool(latest), [])
    resolved = session.execute(
        update(_ITEMS)
        .where(_ITEMS.c.task_name == task, _ITEMS.c.resolved_at.is_(None), _ITEMS.c.last_seen < now)
        .values(resolved_at=now)
        .returning(_ITEMS.c.id, _ITEMS.c.subject)
    )
    return Synced(bool(latest), [(item_id, subject) for item_id, subject in resolved])


_FOUND = {
    "position": Integer(), "fingerprint": String(), "subject": String(), "priority": String(), "message": Text(),
    "next_step": Text(), "affected": JSONDocument, "data": JSONDocument,
}


def _upsert_items(session: Session, task: str, latest: dict[str, ActionItem], now: datetime) -> Any:
    """INSERT … SELECT the findings … ON CONFLICT (fingerprint) DO UPDATE: new, seen again and back, at once.

    The SET expressions read the row as it was, so a row that was resolved
    starts a fresh occurrence (first seen now, told afresh) while an open one
    keeps its first sighting, acknowledgement, snooze and what it was told.
    New rows take ids in the order of the findings (a notification names
    the first).
    """
    found = json_rows(session, "found", _FOUND, [
        (position, key, item.subject, str(item.priority), item.message, item.next_step,
         {kind: list(ids) for kind, ids in item.affected.items()}, dict(item.data))
        for position, (key, item) in enumerate(latest.items())
    ])
    at_now = literal(now, UTCDateTime())
    values = select(
        found.c.fingerprint, literal(task, String()), found.c.subject, found.c.priority, found.c.message,
        found.c.next_step, found.c.affected, found.c.data, at_now, at_now, literal(1, Integer()),
    ).where(true()).order_by(found.c.position)  # SQLite reads "ON CONFLICT" after a bare FROM as a join condition
    insert_ = insert_with_conflicts(session, _ITEMS).from_select(
        ["fingerprint", "task_name", "subject", "priority", "message", "next_step", "affected", "data", "first_seen",
         "last_seen", "times_seen"], values,
    )
    new, row = insert_.excluded, _ITEMS.c
    reopened = row.resolved_at.is_not(None)

    def fresh_if_reopened(fresh: Any, kept: Any) -> Any:
        return case((reopened, fresh), else_=kept)

    return insert_.on_conflict_do_update(index_elements=["fingerprint"], set_={
        "priority": new.priority, "message": new.message, "next_step": new.next_step, "affected": new.affected,
        "data": new.data, "last_seen": new.last_seen, "resolved_at": None,
        "first_seen": fresh_if_reopened(new.first_seen, row.first_seen),
        "times_seen": fresh_if_reopened(1, row.times_seen + 1),
        "acknowledged_at": fresh_if_reopened(None, row.acknowledged_at),
        "snoozed_until": fresh_if_reopened(None, row.snoozed_until),
        "last_notified_at": fresh_if_reopened(None, row.last_notified_at),
        "last_notified_priority": fresh_if_reopened(None, row.last_notified_priority),
    })


def acknowledge_items(session: Session, now: datetime, *, ids: Sequence[int] | None = None,
                      tasks: Sequence[str] | None = None) -> list[int]:
    """Mark open items acknowledged (these ids, these tasks' items, or every open item); returns the ids.

    Items already acknowledged stay as they were, so saying it twice changes nothing.
    """
    query = update(ActionItemRow).where(ActionItemRow.resolved_at.is_(None), ActionItemRow.acknowledged_at.is_(None))
    if ids is not None:
        query = query.where(ActionItemRow.id.in_(list(ids)))
    if tasks is not None:
        query = query.where(ActionItemRow.task_name.in_(list(tasks)))
    return sorted(session.scalars(
        query.values(acknowledged_at=now).returning(ActionItemRow.id).execution_options(synchronize_session=False)
    ))


def open_items(session: Session, ids: Sequence[int]) -> dict[int, ActionItemRow]:
    """The open items among `ids`, by id (missing and resolved ones are left out)."""
    return {row.id: row for row in session.scalars(
        select(ActionItemRow).where(ActionItemRow.id.in_(list(ids)), ActionItemRow.resolved_at.is_(None))
    )}


def snooze_item(session: Session, item_id: int, until: datetime) -> None:
    session.execute(
        update(ActionItemRow).where(ActionItemRow.id == item_id).values(snoozed_until=until)
        .execution_options(synchronize_session=False)
    )


def mark_report_read(session: Session, now: datetime) -> datetime | None:
    """Remember that the agent heard the report now; returns when they last did before."""
    state = engine_state(session, now)
    previous, state.report_read_at = state.report_read_at, now
    return previous
