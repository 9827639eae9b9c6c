"""Scheduled tasks: due reminders, recurring tasks and contract-check completion, exactly once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from checks.scheduled import (
    deliver_notifications, due_reminders, next_run_after, recurring_tasks, task_completion_triggers,
)
from checks.schema import Notification, ScheduledTask
from heartbeat_mcp.database import Database
from heartbeat_mcp.task import Priority
from tests.factories import NOW, Portfolio, build, days, run_check, run_together, statements_small_and_large

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def notifications(database: Database) -> list[Notification]:
    with database.sessions() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def tasks(database: Database) -> dict[int, ScheduledTask]:
    with database.sessions() as session:
        return {t.id: t for t in session.scalars(select(ScheduledTask))}


def notified_task_ids(database: Database) -> list[int]:
    return sorted(n.data["task_id"] for n in notifications(database))


# --- due_reminders ------------------------------------------------------------------


def test_a_task_due_now_is_notified_and_one_due_in_a_minute_is_not(database: Database) -> None:
    due, later = build(database, lambda p: (
        p.task(title="Call the lender", scheduled_at=NOW).id,
        p.task(title="Send the comps", scheduled_at=NOW + MINUTE).id,
    ))

    result = run_check(database, due_reminders)

    assert notified_task_ids(database) == [due]
    assert result.metrics["actions_taken"] == 1
    assert tasks(database)[later].status == "pending"
    assert run_check(database, due_reminders, now=NOW + MINUTE).metrics["actions_taken"] == 1
    assert notified_task_ids(database) == [due, later]


def test_disabled_cancelled_and_finished_tasks_are_ignored(database: Database) -> None:
    build(database, lambda p: [
        p.task(enabled=False), p.task(status="cancelled"), p.task(status="completed"), p.task(status="failed"),
        p.task(task_type="follow_up", enabled=False), p.task(task_type="contract_check", status="cancelled"),
    ])

    result = run_check(database, due_reminders)

    assert notifications(database) == []
    assert result.metrics["actions_taken"] == 0
    assert result.items == []


def test_a_reminder_is_completed_and_its_notification_speaks_its_title_contact_and_address(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        home = p.property(address="12 Oak Street")
        pat = p.contact(home, name="Pat Lee")
        return p.task(title="Call the lender.", property_id=home.id, contact_id=pat.id, status="scheduled").id

    reminder = build(database, fill)

    result = run_check(database, due_reminders)

    [note] = notifications(database)
    assert (note.type, note.priority, note.title) == ("scheduled_task", "medium", "Call the lender")
    assert note.message == "Reminder: Call the lender (Pat Lee, 12 Oak Street)."
    assert note.property_id is not None and note.agent_id is not None
    assert tasks(database)[reminder].status == "completed"
    assert tasks(database)[reminder].last_run_at == NOW
    assert result.items == []
    assert result.data["completed"] == [reminder]
    assert result.metrics["tasks_completed"] == 1


def test_a_follow_up_is_notified_once_and_stays_open_until_rescheduled(database: Database) -> None:
    follow_up = build(database, lambda p: p.task(task_type="follow_up", title="Check in on the offer").id)

    first = run_check(database, due_reminders)
    second = run_check(database, due_reminders, now=NOW + 5 * MINUTE)

    [note] = notifications(database)
    assert (note.type, note.priority) == ("follow_up_due", Priority.high)
    assert note.message == "Follow-up due: Check in on the offer."
    assert (first.metrics["actions_taken"], second.metrics["actions_taken"]) == (1, 0)
    assert tasks(database)[follow_up].status == "pending"

    with database.transaction() as session:  # the agent snoozes it to tomorrow
        session.get(ScheduledTask, follow_up).scheduled_at = NOW + days(1)
    run_check(database, due_reminders, now=NOW + days(1))
    assert notified_task_ids(database) == [follow_up, follow_up]


def test_a_due_contract_check_is_notified_once_and_left_open(database: Database) -> None:
    check_id = build(database, lambda p: p.task(task_type="contract_check", title="Chase the disclosures").id)

    run_check(database, due_reminders)
    run_check(database, due_reminders, now=NOW + MINUTE)

    [note] = notifications(database)
    assert (note.type, note.message) == ("scheduled_task", "Contract check due: Chase the disclosures.")
    assert tasks(database)[check_id].status == "pending"


def test_recurring_tasks_are_not_due_reminders(database: Database) -> None:
    build(database, lambda p: p.task(task_type="recurring", repeat_interval_hours=24))

    assert run_check(database, due_reminders).metrics["actions_taken"] == 0


def test_an_agent_sees_tasks_of_their_properties_and_errands_but_not_other_agents_tasks(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        mine, theirs = p.agent(), p.agent()
        my_home, their_home = p.property(mine), p.property(theirs)
        their_contact = p.contact(their_home)
        return {
            "agent": mine.id,
            "mine": p.task(property_id=my_home.id).id,
            "via_my_contact": p.task(contact_id=p.contact(my_home).id).id,
            "errand": p.task(title="Renew my license").id,
            "theirs": p.task(property_id=their_home.id).id,
            "via_their_contact": p.task(contact_id=their_contact.id).id,
        }

    ids = build(database, fill)

    run_check(database, due_reminders, agent_id=ids["agent"])

    assert notified_task_ids(database) == sorted([ids["mine"], ids["via_my_contact"], ids["errand"]])
    assert tasks(database)[ids["theirs"]].status == "pending"


# --- recurring_tasks ----------------------------------------------------------------


def test_the_next_run_is_the_first_slot_strictly_after_now_on_the_original_phase() -> None:
    start = NOW - 5 * HOUR
    assert next_run_after(start, HOUR, NOW) == NOW + HOUR  # a slot exactly at now is this run's
    assert next_run_after(start, HOUR, NOW + MINUTE) == NOW + HOUR
    assert next_run_after(NOW, 24 * HOUR, NOW) == NOW + days(1)


def test_five_missed_periods_collapse_into_one_run_that_keeps_the_phase(database: Database) -> None:
    # Every 6 hours, last due 30 h 15 min ago: six slots have come due, one run covers them all.
    last_due = NOW - 30 * HOUR - 15 * MINUTE
    task_id = build(database, lambda p: p.task(
        task_type="recurring", title="Post the open-house listings", repeat_interval_hours=6,
        scheduled_at=last_due - days(10), next_run_at=last_due, status="scheduled",
    ).id)

    result = run_check(database, recurring_tasks)

    task = tasks(database)[task_id]
    assert task.next_run_at == last_due + 6 * 6 * HOUR == NOW + 5 * HOUR + 45 * MINUTE
    assert task.last_run_at == NOW and task.status == "scheduled"
    [note] = notifications(database)
    assert note.message == (
        "Recurring task: Post the open-house listings. It also came due 5 more times while the heartbeat was"
        " not running; this one run covers them."
    )
    assert note.data["missed_periods"] == 5
    assert result.metrics == {"actions_taken": 1, "notifications_created": 1, "missed_periods": 5}
    assert run_check(database, recurring_tasks, now=NOW + 5 * HOUR).metrics["actions_taken"] == 0
    assert run_check(database, recurring_tasks, now=task.next_run_at).metrics["actions_taken"] == 1
    assert tasks(database)[task_id].next_run_at == task.next_run_at + 6 * HOUR


def test_a_recurring_task_first_runs_at_its_scheduled_time(database: Database) -> None:
    due, later = build(database, lambda p: (
        p.task(task_type="recurring", repeat_interval_hours=24, scheduled_at=NOW).id,
        p.task(task_type="recurring", repeat_interval_hours=24, scheduled_at=NOW + MINUTE).id,
    ))

    run_check(database, recurring_tasks)

    assert notified_task_ids(database) == [due]
    assert tasks(database)[due].next_run_at == NOW + days(1)
    assert tasks(database)[later].next_run_at is None


def test_disabled_and_cancelled_recurring_tasks_do_not_run(database: Database) -> None:
    build(database, lambda p: [
        p.task(task_type="recurring", repeat_interval_hours=1, enabled=False),
        p.task(task_type="recurring", repeat_interval_hours=1, status="cancelled"),
    ])

    assert run_check(database, recurring_tasks).metrics["actions_taken"] == 0
    assert notifications(database) == []


def test_a_recurring_task_without_an_interval_is_reported_not_run(database: Database) -> None:
    task_id = build(database, lambda p: p.task(task_type="recurring", title="Weekly market report").id)

    result = run_check(database, recurring_tasks)

    [item] = result.items
    assert (item.subject, item.priority) == (f"task:{task_id}", Priority.medium)
    assert item.message == "The recurring task Weekly market report has no repeat interval, so it cannot run."
    assert item.affected["tasks"] == [task_id]
    assert notifications(database) == []


# --- task_completion_triggers -------------------------------------------------------


def test_a_contract_check_completes_when_every_required_contract_is_signed(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        signed, half, none_required = (p.property(address=a) for a in ("1 Elm Road", "2 Elm Road", "3 Elm Road"))
        p.contract(signed, status="completed")
        p.contract(signed, status="completed", name="Disclosure")
        p.contract(signed, status="draft", is_required=False)
        p.contract(half, status="completed")
        p.contract(half, status="pending_signature")
        p.contract(none_required, status="draft", is_required=False)
        check = {"task_type": "contract_check", "scheduled_at": NOW + days(3)}
        return {
            "signed": p.task(property_id=signed.id, title="Verify signatures", **check).id,
            "half": p.task(property_id=half.id, **check).id,
            "none_required": p.task(property_id=none_required.id, **check).id,
            "errand": p.task(**check).id,
        }

    ids = build(database, fill)

    result = run_check(database, task_completion_triggers)
    again = run_check(database, task_completion_triggers, now=NOW + MINUTE)

    [note] = notifications(database)
    assert (note.type, note.priority) == ("contract_check_completed", "low")
    assert note.message == "Contract check done: Verify signatures. Every required contract for 1 Elm Road is signed."
    states = {name: tasks(database)[i].status for name, i in ids.items()}
    assert states == {"signed": "completed", "half": "pending", "none_required": "pending", "errand": "pending"}
    assert (result.metrics["tasks_completed"], again.metrics["tasks_completed"]) == (1, 0)
    assert result.items == []


def test_a_contract_check_on_a_contact_follows_the_contacts_property(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        home = p.property()
        p.contract(home, status="completed")
        return p.task(task_type="contract_check", contact_id=p.contact(home).id).id

    task_id = build(database, fill)

    run_check(database, task_completion_triggers)

    assert tasks(database)[task_id].status == "completed"


def test_completion_triggers_respect_the_agent_scope_and_disabled_tasks(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        mine, theirs = p.agent(), p.agent()
        homes = [p.property(mine), p.property(theirs), p.property(mine)]
        for home in homes:
            p.contract(home, status="completed")
        return {
            "agent": mine.id,
            "mine": p.task(task_type="contract_check", property_id=homes[0].id).id,
            "theirs": p.task(task_type="contract_check", property_id=homes[1].id).id,
            "disabled": p.task(task_type="contract_check", property_id=homes[2].id, enabled=False).id,
        }

    ids = build(database, fill)

    run_check(database, task_completion_triggers, agent_id=ids["agent"])

    assert notified_task_ids(database) == [ids["mine"]]
    assert {k: tasks(database)[v].status for k, v in ids.items() if k != "agent"} == {
        "mine": "completed", "theirs": "pending", "disabled": "pending"}


# --- set-based: the same statements for 3 tasks or 30 -------------------------------


def _portfolio_of(n: int) -> Callable[[Portfolio], None]:
    def fill(p: Portfolio) -> None:
        agent = p.agent()
        for i in range(n):
            home = p.property(agent)
            p.contract(home, status="completed")
            p.task(property_id=home.id, contact_id=p.contact(home).id, task_type=("reminder", "follow_up")[i % 2])
            p.task(property_id=home.id, task_type="contract_check")
            p.task(property_id=home.id, task_type="recurring", repeat_interval_hours=1 + i % 5,
                   next_run_at=NOW - (i + 1) * HOUR)

    return fill


@pytest.mark.parametrize("handler", [due_reminders, recurring_tasks, task_completion_triggers])
def test_statement_count_does_not_grow_with_the_number_of_tasks(database: Database, handler: Any) -> None:
    small, large, result = statements_small_and_large(database, handler, _portfolio_of, later=NOW + MINUTE)

    assert small == large == 3
    assert result.metrics["actions_taken"] >= 30


# --- exactly once with two replicas on PostgreSQL -----------------------------------


@pytest.mark.parametrize(("handler", "due"), [(due_reminders, 40), (recurring_tasks, 20), (task_completion_triggers, 20)])
def test_two_replicas_at_the_same_moment_notify_each_task_exactly_once(postgres: Database, handler: Any, due: int) -> None:
    build(postgres, _portfolio_of(20))

    results = run_together(postgres, handler, "UPDATE SCHEDULED_TASKS")

    assert sorted(r.metrics["actions_taken"] for r in results) == [0, due]
    ids = notified_task_ids(postgres)
    assert len(ids) == len(set(ids)) == due


# --- deliver_notifications ----------------------------------------------------------

WEBHOOK_URL = "https://hooks.example.com/heartbeat?key=s3cret"


def outbox(database: Database) -> list[Any]:
    from heartbeat_mcp.models import OutboxNotification

    with database.sessions() as session:
        return list(session.scalars(select(OutboxNotification).order_by(OutboxNotification.id)))


def test_new_notifications_are_handed_to_the_channels_once(database: Database) -> None:
    fresh, read, old = build(database, lambda p: (
        p.notification(created_at=NOW - HOUR + MINUTE).id,
        p.notification(is_read=True).id,
        p.notification(created_at=NOW - HOUR).id,
    ))

    first = run_check(database, deliver_notifications, webhook_url=WEBHOOK_URL)
    again = run_check(database, deliver_notifications, now=NOW + MINUTE, webhook_url=WEBHOOK_URL)

    assert (first.metrics["actions_taken"], again.metrics["actions_taken"]) == (1, 0)
    (sent,) = outbox(database)
    assert (sent.kind, sent.priority, sent.message) == ("pipeline_auto_advance", "medium",
                                                        "12 Oak Street moved from new to enriched.")
    assert sent.dedupe_key == f"notifications:{fresh}" and sent.data["details"] == {"to": "enriched"}
    assert read not in (sent.data["notification_id"],) and old != sent.data["notification_id"]


def test_notifications_of_another_agent_are_not_handed_on(database: Database) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        me, other = p.agent(), p.agent()
        p.notification(property_id=p.property(me).id, message="Mine.")
        p.notification(property_id=p.property(other).id, message="Theirs.")
        p.notification(agent_id=me.id, type="watchlist_match", message="My watchlist.")
        return me.id, other.id

    me, _ = build(database, fill)
    run_check(database, deliver_notifications, agent_id=me)
    assert [n.message for n in outbox(database)] == ["Mine.", "My watchlist."]


def test_a_channel_that_keeps_failing_is_a_high_system_alert(database: Database) -> None:
    from heartbeat_mcp.models import Delivery

    build(database, lambda p: p.notification())
    run_check(database, deliver_notifications, webhook_url=WEBHOOK_URL)
    with database.transaction() as session:
        session.execute(update(Delivery).values(attempts=2, last_error="it answered HTTP 500"))
    assert run_check(database, deliver_notifications, webhook_url=WEBHOOK_URL).items == []
    with database.transaction() as session:
        session.execute(update(Delivery).values(attempts=3))

    (item,) = run_check(database, deliver_notifications, webhook_url=WEBHOOK_URL).items
    assert item.priority == Priority.high and item.subject == "channel:webhook"
    assert item.message == ("Notifications are not getting through to the webhook: 1 waiting, tried 3 times; "
                            "it answered HTTP 500.")
    assert "s3cret" not in item.message + item.next_step


def test_two_replicas_hand_each_notification_on_exactly_once(postgres: Database) -> None:
    build(postgres, lambda p: [p.notification(message=f"Advance {i}.") for i in range(20)])
    results = run_together(postgres, deliver_notifications, "INSERT INTO HEARTBEAT_NOTIFICATIONS",
                           webhook_url=WEBHOOK_URL)
    assert sum(r.metrics["actions_taken"] for r in results) == 20
    assert sorted(n.message for n in outbox(postgres)) == sorted(f"Advance {i}." for i in range(20))
