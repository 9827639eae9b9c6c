"""Delivering notifications: retried until they arrive, never twice, never in the way of a cycle."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from heartbeat_mcp import alerts
from heartbeat_mcp.clock import FakeClock
from heartbeat_mcp.database import Database
from heartbeat_mcp.delivery import MCP_MAX_AGE, QUIET_HOURS_SUMMARY, WebhookChannel
from heartbeat_mcp.models import Delivery, DeliveryAttempt
from heartbeat_mcp.schedule import Every
from heartbeat_mcp.task import ActionItem, CheckContext, CheckResult, Priority, TaskSpec
from tests.engine_support import engine_for, pack_of
from tests.webhook_server import WebhookServer

pytestmark = pytest.mark.anyio
START = datetime(2026, 6, 1, 14, 0, tzinfo=timezone.utc)  # 10:00 in New York
NEW_YORK = "America/New_York"


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    server = WebhookServer()
    yield server
    server.close()


def findings(*items: tuple[str, Priority]) -> Any:
    def check(ctx: CheckContext) -> CheckResult:
        return CheckResult(items=[ActionItem(subject, priority, f"{subject} needs a call.") for subject, priority in items])

    return check


def engine_with(database: Database, clock: FakeClock, url: str, *items: tuple[str, Priority], **settings: Any) -> Any:
    spec = TaskSpec("calls", findings(*items), Every(300), "Calls", "Find who needs a call")
    return engine_for(database, pack_of(spec), clock, timezone=NEW_YORK, webhook_url=url, **settings)


def attempts(database: Database) -> list[DeliveryAttempt]:
    with database.sessions() as session:
        return list(session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))


def delivery_states(database: Database) -> list[tuple[str, str, int]]:
    with database.sessions() as session:
        return [(d.channel, d.status, d.attempts) for d in session.scalars(select(Delivery).order_by(Delivery.id))]


async def test_a_webhook_failing_three_times_then_healthy_receives_each_notification_once(database: Database) -> None:
    webhook = WebhookServer(fail_first=6)
    clock = FakeClock(START)
    engine = engine_with(database, clock, webhook.url, ("lead:1", Priority.high), ("lead:2", Priority.medium))
    try:
        await engine.execute_cycle()
        retries = []
        for _ in range(4):
            done = await engine.dispatcher.deliver_due()
            retries.append((done.delivered, done.failed))
            with database.sessions() as session:
                next_at = session.scalar(select(Delivery.next_attempt_at).where(Delivery.status == "pending").limit(1))
            if next_at is not None:
                clock.set(next_at)
    finally:
        webhook.close()

    assert retries == [(0, 2), (0, 2), (0, 2), (2, 0)]
    assert sorted(Counter(webhook.received).values()) == [1, 1]
    assert len(webhook.requests) == 8
    assert delivery_states(database) == [("webhook", "delivered", 4), ("webhook", "delivered", 4)]
    tries = attempts(database)
    assert [a.ok for a in tries] == [False] * 6 + [True] * 2
    assert {a.detail for a in tries if not a.ok} == {"it answered HTTP 500"}
    gaps = sorted({a.attempted_at - START for a in tries})
    assert gaps == [timedelta(0), timedelta(seconds=5), timedelta(seconds=15), timedelta(seconds=35)]
    assert {(b["type"], b["message"]) for b in webhook.bodies()} == {
        (alerts.ACTION_NEEDED, "lead:1 needs a call."), (alerts.ACTION_NEEDED, "lead:2 needs a call.")}


async def test_a_hanging_webhook_does_not_delay_the_cycle_and_its_attempt_times_out(database: Database) -> None:
    webhook = WebhookServer(hang=3.0)
    clock = FakeClock(START)
    engine = engine_with(database, clock, webhook.url, ("lead:1", Priority.high))
    engine.dispatcher.add(WebhookChannel(engine.settings.webhook_url, timeout_seconds=0.5))
    try:
        await engine.execute_cycle()
        async with anyio.create_task_group() as group:
            group.start_soon(engine.dispatcher.deliver_due)  # stuck on the webhook for its whole timeout
            await anyio.sleep(0.1)
            clock.advance(300)
            started = time.perf_counter()
            cycle = await engine.execute_cycle()
            cycle_seconds = time.perf_counter() - started
        assert cycle_seconds < 0.4 and not cycle.failed
        (attempt,) = attempts(database)
        assert not attempt.ok and attempt.detail == "it did not answer within 0.5 seconds"
        assert "s3cret" not in attempt.detail and 400 < attempt.duration_ms < 1500
    finally:
        webhook.close()


async def test_quiet_hours_deliver_one_summary_when_the_window_ends_and_urgent_at_once(database: Database,
                                                                                      webhook: WebhookServer) -> None:
    night = datetime(2026, 6, 2, 2, 0, tzinfo=timezone.utc)  # 22:00 in New York
    morning = datetime(2026, 6, 2, 11, 0, tzinfo=timezone.utc)  # 07:00
    clock = FakeClock(night)
    specs = [
        TaskSpec("calls", findings(("lead:1", Priority.high), ("lead:2", Priority.medium)), Every(300), "Calls"),
        TaskSpec("deadlines", findings(("contract:1", Priority.urgent), ("contract:2", Priority.low)), Every(300), "Calls"),
    ]
    engine = engine_for(database, pack_of(*specs), clock, timezone=NEW_YORK, webhook_url=webhook.url,
                        quiet_hours="21:00-07:00")
    await engine.execute_cycle()
    await engine.dispatcher.deliver_due()
    assert [b["priority"] for b in webhook.bodies()] == ["urgent"]

    clock.set(morning - timedelta(seconds=1))
    assert (await engine.dispatcher.deliver_due()).delivered == 0
    clock.set(morning)
    done = await engine.dispatcher.deliver_due()
    assert done.delivered == 3 and len(webhook.received) == 2
    summary = webhook.bodies()[1]
    assert summary["type"] == QUIET_HOURS_SUMMARY and summary["priority"] == "high"
    assert [n["priority"] for n in summary["notifications"]] == ["high", "medium", "low"]
    assert summary["message"].startswith("While quiet hours were on, 3 notifications came in.")


async def test_mcp_deliveries_nobody_takes_are_let_go_after_a_while(database: Database, webhook: WebhookServer) -> None:
    clock = FakeClock(START)
    engine = engine_with(database, clock, webhook.url, ("lead:1", Priority.high))
    from heartbeat_mcp.models import Replica

    with database.transaction() as session:
        session.add(Replica(id="gone", hostname="h", pid=1, started_at=START, last_seen=START, transports="stdio"))
    await engine.execute_cycle()
    clock.advance(MCP_MAX_AGE)
    await engine.dispatcher.deliver_due()
    assert delivery_states(database) == [("webhook", "delivered", 1), ("mcp:gone", "pending", 0)]
    clock.advance(1)
    await engine.dispatcher.deliver_due()
    assert delivery_states(database)[1] == ("mcp:gone", "expired", 0)


async def test_two_replicas_deliver_each_notification_exactly_once(postgres_url: str, webhook: WebhookServer) -> None:
    databases = [Database(postgres_url), Database(postgres_url)]
    clock = FakeClock(START)
    found: list[tuple[str, Priority]] = []

    def calls(ctx: CheckContext) -> CheckResult:
        return findings(*found)(ctx)

    spec = TaskSpec("calls", calls, Every(300), "Calls")
    engines = [engine_for(db, pack_of(spec), clock, webhook_url=webhook.url) for db in databases]
    try:
        for cycle in range(3):  # new findings every cycle, run by either replica, while both deliver at once
            found.extend((f"lead:{cycle}-{i}", Priority(("low", "medium", "high", "urgent")[i % 4])) for i in range(8))
            await engines[cycle % 2].execute_cycle()
            async with anyio.create_task_group() as group:
                for engine in engines:
                    for _ in range(3):
                        group.start_soon(engine.dispatcher.deliver_due)
            clock.advance(301)
        keys = webhook.received
        assert len(keys) == len(set(keys)) == 12  # 3 cycles × 4 priorities
        assert delivery_states(databases[0]) == [("webhook", "delivered", 1)] * 12
    finally:
        for db in databases:
            db.dispose()
