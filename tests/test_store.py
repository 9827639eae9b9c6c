"""The statements that record a run: the quiet path writes what the full record writes, or nothing."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select, text

from heartbeat_mcp import store
from heartbeat_mcp.database import Database
from heartbeat_mcp.models import TaskConfig, TaskRun
from heartbeat_mcp.task import ActionItem, Priority

NOW = datetime(2026, 3, 8, 9, 30, 15, 123456, tzinfo=timezone.utc)
LEASE = timedelta(minutes=5)


def _claimed(database: Database, *names: str) -> dict[str, store.Claim]:
    with database.transaction() as session:
        store.sync_tasks(session, [
            store.TaskDefaults(name, "Tests", True, "Every hour", 3600, 60.0, NOW) for name in names
        ], NOW)
    with database.transaction() as session:
        return {c.task: c for c in store.claim_now(session, list(names), NOW, "token-1", LEASE)}


def _record(claim: store.Claim) -> store.RunRecord:
    finished = NOW + timedelta(seconds=2, microseconds=654321)
    return store.RunRecord(
        claim=claim, trigger="schedule", cycle_id="c" * 32, replica="replica-1", started_at=NOW,
        finished_at=finished, duration_ms=2654.321, status="success", error=None,
        result={"status": "success", "item_count": 0, "items": [], "metrics": {"rows_examined": 7}, "data": {"ok": 1}},
        next_run_at=NOW + timedelta(hours=1), failed=False,
    )


def _written(database: Database, task: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The task's row and history as read back, without what names the task."""
    with database.sessions() as session:
        row = session.execute(select(TaskConfig).where(TaskConfig.task_name == task)).scalar_one()
        runs = session.scalars(select(TaskRun).where(TaskRun.task_name == task)).all()
        skip = {"id", "task_name", "_sa_instance_state"}
        return ({k: v for k, v in vars(row).items() if k not in skip},
                [{k: v for k, v in vars(r).items() if k not in skip} for r in runs])


def _stored(database: Database, table: str, task: str) -> list[tuple[Any, ...]]:
    """The rows as the driver hands them back (on SQLite, the text written), without id and task name."""
    with database.engine.connect() as connection:
        rows = connection.execute(text(f"SELECT * FROM {table} WHERE task_name = :task"), {"task": task}).mappings()
        return [tuple(v for k, v in row.items() if k not in ("id", "task_name")) for row in rows]


def test_a_quiet_run_is_recorded_exactly_as_the_full_record_would_record_it(database: Database) -> None:
    claims = _claimed(database, "full", "quiet")
    with database.engine.begin() as connection:
        assert store.record_run(connection, _record(claims["full"])) is False
    watched: list[Any] = []
    assert store.record_quiet_run(database, _record(claims["quiet"]), watched.append) is True

    assert len(watched) == 1 and watched[0] is not None, "the driver connection is handed over to be interrupted"
    full, quiet = _written(database, "full"), _written(database, "quiet")
    assert quiet == full
    for table in ("heartbeat_config", "heartbeat_runs"):
        assert _stored(database, table, "quiet") == _stored(database, table, "full")
    row, (run,) = quiet
    assert row["last_run_at"] == NOW + timedelta(seconds=2, microseconds=654321), "to the microsecond, in UTC"
    assert row["last_result"]["metrics"] == {"rows_examined": 7}
    assert (row["lease_owner"], row["lease_until"], row["consecutive_failures"]) == (None, None, 0)
    assert run["result"] == {"status": "success", "item_count": 0, "metrics": {"rows_examined": 7}}


def test_a_quiet_run_writes_nothing_while_its_task_has_open_items(database: Database) -> None:
    claim = _claimed(database, "open")["open"]
    with database.transaction() as session:
        store.sync_items(session, "open", [ActionItem(subject="p:1", priority=Priority.medium, message="Look")], NOW)

    assert store.record_quiet_run(database, _record(claim), lambda _: None) is False

    row, runs = _written(database, "open")
    assert runs == [] and row["lease_owner"] == "token-1" and row["last_run_at"] is None
    with database.engine.begin() as connection:
        assert store.record_run(connection, _record(claim)) is True, "the full record then resolves and records it"


def test_a_quiet_run_writes_nothing_once_its_lease_is_gone(database: Database) -> None:
    claim = _claimed(database, "taken")["taken"]
    taken = dataclasses.replace(claim, token="another-replica")

    assert store.record_quiet_run(database, _record(taken), lambda _: None) is False

    row, runs = _written(database, "taken")
    assert runs == [] and row["lease_owner"] == "token-1"
