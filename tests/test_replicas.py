"""Several engine processes on one PostgreSQL database: every period runs exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from checks.schema import Notification
from heartbeat_mcp.database import Database
from heartbeat_mcp.models import TaskConfig, TaskRun

WORKER = Path(__file__).with_name("replica_worker.py")
INTERVALS = {"every_2s": 2, "every_3s": 3, "every_5s": 5, "slow": 10}


def start_replicas(url: str, count: int) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(WORKER.parent.parent)}
    return [
        subprocess.Popen([sys.executable, str(WORKER), url], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(count)
    ]


def stop(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def history(database: Database) -> list[TaskRun]:
    with database.sessions() as session:
        return list(session.scalars(select(TaskRun).order_by(TaskRun.task_name, TaskRun.scheduled_for)))


@pytest.mark.slow
def test_three_replicas_run_every_period_exactly_once(postgres_url: str) -> None:
    database = Database(postgres_url)
    replicas = start_replicas(postgres_url, 3)
    try:
        time.sleep(32)
    finally:
        stop(replicas)
    runs = history(database)
    assert {r.status for r in runs} == {"success"}
    for task, interval in INTERVALS.items():
        slots = [r.scheduled_for for r in runs if r.task_name == task]
        assert len(slots) >= 30 // interval - 1, task
        # no period twice, none skipped: consecutive slots are exactly one interval apart
        assert {b - a for a, b in zip(slots, slots[1:])} == {timedelta(seconds=interval)}, task
    with database.sessions() as session:
        marks = Counter(dict(session.execute(
            select(Notification.title, func.count()).where(Notification.type == "replica_test").group_by(Notification.title)
        ).all()))
    assert marks == Counter(r.task_name for r in runs)  # each run's writes committed once
    assert len({r.replica for r in runs}) >= 2  # the work really was shared
    database.dispose()


@pytest.mark.slow
def test_a_replica_killed_mid_run_hands_its_task_to_another(postgres_url: str) -> None:
    database = Database(postgres_url)
    replicas = start_replicas(postgres_url, 3)
    try:
        deadline = time.monotonic() + 30
        owner = None
        while time.monotonic() < deadline and owner is None:
            with database.sessions() as session:
                owner, slot = session.execute(
                    select(TaskConfig.lease_owner, TaskConfig.next_run_at).where(TaskConfig.task_name == "slow")
                ).first() or (None, None)
            time.sleep(0.1)
        assert owner is not None, "the slow task never started"
        pid = int(owner.split("/")[0].split(":")[1])
        victim = next(p for p in replicas if p.pid == pid)
        time.sleep(1)  # in the middle of its four-second run
        victim.kill()
        victim.wait()

        deadline = time.monotonic() + 20
        taken_over = []
        while time.monotonic() < deadline and not taken_over:
            taken_over = [r for r in history(database) if r.task_name == "slow" and r.scheduled_for == slot]
            time.sleep(0.2)
    finally:
        stop(replicas)
    assert len(taken_over) == 1
    assert taken_over[0].status == "success"
    assert f":{pid}:" not in taken_over[0].replica
    database.dispose()
