"""Alerts that matter: told on transitions only, repeated when ignored, quiet at night, never lost.

The engine runs over a simulated time line (FakeClock); what the agent would
be told is read back from the outbox (heartbeat_notifications) and its
deliveries, the same rows the dispatcher sends from.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from heartbeat_mcp import alerts
from heartbeat_mcp.clock import FakeClock
from heartbeat_mcp.database import Database
from heartbeat_mcp.models import ActionItemRow, Delivery, OutboxNotification, Replica
from heartbeat_mcp.schedule import Every
from heartbeat_mcp.task import ActionItem, CheckContext, CheckResult, Priority, TaskSpec
from tests.engine_support import engine_for, pack_of

pytestmark = pytest.mark.anyio
# 10:00 in New York: outside the 21:00-07:00 quiet hours used below.
START = datetime(2026, 6, 1, 14, 0, tzinfo=timezone.utc)
NEW_YORK = "America/New_York"


class Findings:
    """A check whose findings the test sets: what a real check would find in a changing portfolio."""

    def __init__(self) -> None:
        self.items: dict[str, ActionItem] = {}

    def __call__(self, ctx: CheckContext) -> CheckResult:
        return CheckResult(items=list(self.items.values()))

    def stale(self, subject: str, priority: Priority = Priority.medium, address: str = "12 Oak Street") -> None:
        self.items[subject] = ActionItem(subject, priority, f"{address} has had no activity in 9 days.",
                                         affected={"properties": [int(subject.split(":")[1])]})


def notifications(database: Database, kind: str | None = None) -> list[OutboxNotification]:
    with database.sessions() as session:
        query = select(OutboxNotification).order_by(OutboxNotification.id)
        if kind:
            query = query.where(OutboxNotification.kind == kind)
        return list(session.scalars(query))


def deliveries(database: Database) -> list[Delivery]:
    with database.sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def item(database: Database, subject: str) -> ActionItemRow:
    with database.sessions() as session:
        return session.scalars(select(ActionItemRow).where(ActionItemRow.subject == subject)).one()


async def every_five_minutes(engine: Any, clock: FakeClock, until: datetime, between: Any = None) -> int:
    """Run the check on its five-minute schedule up to (not including) `until`; returns how many runs."""
    count = 0
    while clock.now() < until:
        cycle = await engine.execute_cycle("stale_listings")
        assert not cycle.failed
        count += 1
        if between is not None:
            between(clock.now())
        clock.advance(300)
    return count


def stale_engine(database: Database, clock: FakeClock, findings: Findings, **settings: Any) -> Any:
    spec = TaskSpec("stale_listings", findings, Every(300), "Listings", "Flag listings with no recent activity")
    return engine_for(database, pack_of(spec), clock, timezone=NEW_YORK, **settings)


async def test_a_finding_seen_for_eight_hours_is_told_once_and_repeated_once_at_four_hours(database: Database) -> None:
    clock, findings = FakeClock(START), Findings()
    findings.stale("property:12")
    engine = stale_engine(database, clock, findings)

    assert await every_five_minutes(engine, clock, START + timedelta(hours=8)) == 96

    told = notifications(database)
    assert [(n.kind, n.data["reason"], n.created_at) for n in told] == [
        (alerts.ACTION_NEEDED, "new", START),
        (alerts.ACTION_NEEDED, "repeat", START + timedelta(hours=4)),
    ]
    assert told[0].message == "12 Oak Street has had no activity in 9 days."
    assert told[1].message == "Still open: 12 Oak Street has had no activity in 9 days."
    assert told[0].data["affected_properties"] == [12]
    row = item(database, "property:12")
    assert (row.first_seen, row.last_seen, row.times_seen) == (START, START + timedelta(hours=7, minutes=55), 96)


async def test_escalation_is_told_once_acknowledging_stops_repeats_and_resolution_is_recorded(database: Database) -> None:
    clock, findings = FakeClock(START), Findings()
    findings.stale("property:12")
    engine = stale_engine(database, clock, findings)
    await every_five_minutes(engine, clock, START + timedelta(hours=1))

    findings.stale("property:12", Priority.high)
    await every_five_minutes(engine, clock, START + timedelta(hours=2))
    assert [(n.data["reason"], n.priority) for n in notifications(database)] == [("new", "medium"), ("escalated", "high")]

    acknowledged = await engine.acknowledge(target="stale listings")
    assert acknowledged == [item(database, "property:12").id]
    await every_five_minutes(engine, clock, START + timedelta(hours=12))
    assert len(notifications(database)) == 2  # acknowledged: no repeat at four hours

    findings.items.clear()
    await engine.execute_cycle("stale_listings")
    row = item(database, "property:12")
    assert row.resolved_at == clock.now()
    assert len(notifications(database)) == 2  # a finding that went away is not an alert about the heartbeat


async def test_a_finding_that_calms_down_and_rises_again_is_told_only_above_what_was_told(database: Database) -> None:
    clock, findings = FakeClock(START), Findings()
    findings.stale("property:12", Priority.high)
    engine = stale_engine(database, clock, findings, repeat_interval="never")
    await engine.execute_cycle()
    findings.stale("property:12", Priority.medium)
    clock.advance(300)
    await engine.execute_cycle()
    findings.stale("property:12", Priority.high)
    clock.advance(300)
    await engine.execute_cycle()
    findings.stale("property:12", Priority.urgent)
    clock.advance(300)
    await engine.execute_cycle()
    assert [(n.data["reason"], n.priority) for n in notifications(database)] == [("new", "high"), ("escalated", "urgent")]


async def test_findings_of_one_run_are_one_notification_per_priority(database: Database) -> None:
    clock, findings = FakeClock(START), Findings()
    for n in range(1, 6):
        findings.stale(f"property:{n}", address=f"{n} Elm Road")
    findings.stale("property:9", Priority.high, address="9 Birch Court")
    engine = stale_engine(database, clock, findings)
    await engine.execute_cycle()

    told = notifications(database)
    assert [(n.priority, n.data["item_count"]) for n in told] == [("high", 1), ("medium", 5)]
    assert told[1].message.startswith("5 new stale listings findings. First: 1 Elm Road")
    assert told[1].data["affected_properties"] == [1, 2, 3, 4, 5]


async def test_a_group_larger_than_the_data_lists_is_counted_whole_and_names_its_first_items(database: Database) -> None:
    clock, findings = FakeClock(START), Findings()
    for n in range(1, alerts.LISTED_IN_DATA + 21):
        findings.stale(f"property:{n}", address=f"{n} Elm Road")
    engine = stale_engine(database, clock, findings)
    await engine.execute_cycle()

    (told,) = notifications(database)
    total = alerts.LISTED_IN_DATA + 20
    assert told.data["item_count"] == total
    assert told.title == f"Stale listings: {total} items new"
    assert told.message.startswith(f"{total} new stale listings findings. First: 1 Elm Road")
    first_ids = [item(database, f"property:{n}").id for n in range(1, alerts.LISTED_IN_DATA + 1)]
    assert told.data["action_items"] == first_ids
    assert told.data["affected_properties"] == list(range(1, alerts.LISTED_IN_DATA + 1))
    clock.advance(300)
    await engine.execute_cycle()
    assert len(notifications(database)) == 1, "every item of the group was marked told, not only those named"


async def test_a_finding_back_after_resolving_is_a_fresh_occurrence_told_as_new(database: Database) -> None:
    clock, findings = FakeClock(START), Findings()
    findings.stale("property:12")
    engine = stale_engine(database, clock, findings)
    await every_five_minutes(engine, clock, START + timedelta(minutes=15))
    first = item(database, "property:12")
    await engine.acknowledge([first.id])
    findings.items.clear()
    await every_five_minutes(engine, clock, START + timedelta(minutes=30))
    assert item(database, "property:12").resolved_at == START + timedelta(minutes=15)

    findings.stale("property:12", Priority.high)
    await every_five_minutes(engine, clock, START + timedelta(minutes=40))
    back = item(database, "property:12")
    assert back.id == first.id
    assert (back.first_seen, back.last_seen, back.times_seen) == (
        START + timedelta(minutes=30), START + timedelta(minutes=35), 2)
    assert (back.resolved_at, back.acknowledged_at, back.priority) == (None, None, "high")
    assert [(n.data["reason"], n.priority, n.created_at) for n in notifications(database)] == [
        ("new", "medium", START), ("new", "high", START + timedelta(minutes=30))]


async def test_repeat_intervals_follow_the_priority(database: Database) -> None:
    clock, findings = FakeClock(START), Findings()
    findings.stale("property:1", Priority.urgent)
    findings.stale("property:2", Priority.low, address="2 Elm Road")
    engine = stale_engine(database, clock, findings, repeat_interval="4h, urgent=1h, low=never")
    await every_five_minutes(engine, clock, START + timedelta(hours=3))
    urgent = [n.created_at - START for n in notifications(database) if n.priority == "urgent"]
    low = [n.created_at - START for n in notifications(database) if n.priority == "low"]
    assert urgent == [timedelta(hours=h) for h in (0, 1, 2)]
    assert low == [timedelta(0)]


async def test_a_snoozed_finding_is_silent_until_the_snooze_ends_then_told_again(database: Database) -> None:
    clock, findings = FakeClock(START), Findings()
    findings.stale("property:12")
    engine = stale_engine(database, clock, findings)
    await engine.execute_cycle()
    snoozed = await engine.snooze(item(database, "property:12").id, START + timedelta(hours=6))
    assert snoozed.task == "stale_listings"
    clock.advance(300)

    await every_five_minutes(engine, clock, START + timedelta(hours=6))
    assert len(notifications(database)) == 1  # the four-hour repeat fell inside the snooze
    await every_five_minutes(engine, clock, START + timedelta(hours=6, minutes=10))
    assert [(n.data["reason"], n.created_at) for n in notifications(database)] == [
        ("new", START), ("repeat", START + timedelta(hours=6))]


async def test_acknowledging_or_snoozing_what_is_not_open_changes_nothing(database: Database) -> None:
    from heartbeat_mcp.engine import ConfigurationError

    clock, findings = FakeClock(START), Findings()
    findings.stale("property:12")
    engine = stale_engine(database, clock, findings)
    await engine.execute_cycle()
    open_id = item(database, "property:12").id

    with pytest.raises(ConfigurationError, match=f"Action item {open_id + 40} is not open"):
        await engine.acknowledge([open_id, open_id + 40])
    assert item(database, "property:12").acknowledged_at is None
    with pytest.raises(ConfigurationError, match="already passed"):
        await engine.snooze(open_id, START - timedelta(minutes=1))
    assert item(database, "property:12").snoozed_until is None
    assert await engine.acknowledge([open_id]) == [open_id]
    assert await engine.acknowledge([open_id]) == []  # saying it twice changes nothing


async def test_quiet_hours_hold_what_is_not_urgent_until_the_window_ends(database: Database) -> None:
    night = datetime(2026, 6, 2, 2, 0, tzinfo=timezone.utc)  # 22:00 in New York
    clock, findings = FakeClock(night), Findings()
    findings.stale("property:12")
    findings.stale("property:13", Priority.urgent, address="13 Elm Road")
    engine = stale_engine(database, clock, findings, quiet_hours="21:00-07:00",
                          webhook_url="http://127.0.0.1:9/hook")
    await engine.execute_cycle()

    morning = datetime(2026, 6, 2, 11, 0, tzinfo=timezone.utc)  # 07:00 in New York
    held = {n.priority: n.held_until for n in notifications(database)}
    assert held == {"urgent": None, "medium": morning}
    assert {(d.channel, d.next_attempt_at) for d in deliveries(database)} == {("webhook", night), ("webhook", morning)}


async def test_with_notifications_disabled_nothing_is_delivered_but_items_are_tracked(database: Database) -> None:
    clock, findings = FakeClock(START), Findings()
    findings.stale("property:12")
    engine = stale_engine(database, clock, findings, notifications_enabled=False, webhook_url="http://127.0.0.1:9/x")
    await every_five_minutes(engine, clock, START + timedelta(hours=5))

    assert deliveries(database) == []
    assert {n.suppressed for n in notifications(database)} == {True}
    assert item(database, "property:12").times_seen == 60


async def test_cycle_complete_notifications_are_off_unless_asked_for(database: Database) -> None:
    clock = FakeClock(START)
    findings = Findings()
    await stale_engine(database, clock, findings).execute_cycle()
    assert notifications(database, alerts.CYCLE_COMPLETE) == []

    engine = stale_engine(database, clock, findings, notify_cycle_complete=True)
    await engine.execute_cycle()
    (done,) = notifications(database, alerts.CYCLE_COMPLETE)
    assert done.priority == "low" and done.message.startswith("The heartbeat ran 1 check in ")


async def test_a_system_alert_is_told_when_it_starts_and_when_it_ends(database: Database) -> None:
    clock, findings = FakeClock(START), Findings()
    findings.items["api:zillow"] = ActionItem("api:zillow", Priority.high, "The Zillow API is unreachable.")
    spec = TaskSpec("api_probe", findings, Every(300), "System", system=True)
    engine = engine_for(database, pack_of(spec), clock)
    await engine.execute_cycle()
    findings.items.clear()
    clock.advance(300)
    await engine.execute_cycle()

    assert [(n.kind, n.data["reason"], n.message) for n in notifications(database)] == [
        (alerts.SYSTEM_ALERT, "new", "The Zillow API is unreachable."),
        (alerts.SYSTEM_ALERT, "resolved", "Resolved: The Zillow API is unreachable."),
    ]


async def test_a_failing_task_is_told_once_when_it_keeps_failing_and_once_when_it_recovers(database: Database) -> None:
    clock = FakeClock(START)
    failing = {"on": True}

    def flaky(ctx: CheckContext) -> CheckResult:
        if failing["on"]:
            raise RuntimeError("kaboom")
        return CheckResult()

    engine = engine_for(database, pack_of(TaskSpec("flaky", flaky, Every(60), "Tests")), clock)
    for _ in range(6):
        await engine.execute_cycle()
        clock.advance(60)
    failing["on"] = False
    await engine.execute_cycle()

    assert [(n.kind, n.data["reason"]) for n in notifications(database)] == [
        (alerts.TASK_FAILED, "new"), (alerts.TASK_FAILED, "resolved")]


async def test_every_serving_replica_gets_its_own_mcp_delivery(database: Database) -> None:
    clock, findings = FakeClock(START), Findings()
    findings.stale("property:12")
    engine = stale_engine(database, clock, findings, webhook_url="https://hooks.example.com/heartbeat")
    with database.transaction() as session:
        for replica, transports in (("a", "stdio"), ("b", "streamable-http"), ("run-once", "")):
            session.add(Replica(id=replica, hostname="h", pid=1, started_at=START, last_seen=START,
                                transports=transports))
        session.add(Replica(id="gone", hostname="h", pid=2, started_at=START, last_seen=START - timedelta(hours=1),
                            transports="stdio"))
    await engine.execute_cycle()
    assert sorted(d.channel for d in deliveries(database)) == ["mcp:a", "mcp:b", "webhook"]


async def test_the_report_counts_what_is_new_since_the_agent_last_heard_it(database: Database) -> None:
    clock, findings = FakeClock(START), Findings()
    findings.stale("property:12")
    engine = stale_engine(database, clock, findings)
    await engine.execute_cycle()
    first = await engine.report(heard=True)
    assert (first.new_since_last_asked, first.last_asked) == (None, None)  # never asked before

    clock.advance(300)
    findings.stale("property:13", address="13 Elm Road")
    findings.stale("property:14", address="14 Elm Road")
    await engine.execute_cycle()
    assert (await engine.report()).new_since_last_asked is None  # a report nobody heard counts nothing
    second = await engine.report(heard=True)
    assert (second.new_since_last_asked, second.last_asked) == (2, START)
    third = await engine.report(heard=True)
    assert (third.new_since_last_asked, third.last_asked) == (0, START + timedelta(minutes=5))
