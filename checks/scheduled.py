"""Scheduled tasks: the agent's reminders, follow-ups, recurring jobs and contract checks come due.

Every check here is an autonomous action that must happen exactly once, also
when several replicas run it at the same moment. Each issues the same three
statements, whatever the number of tasks:

1. read the candidate tasks with what their notifications will say (title,
   contact, address), limited to HEARTBEAT_AGENT_ID's portfolio;
2. claim them with one compare-and-set ``UPDATE … WHERE id IN (candidates)
   AND <the rule still holds> RETURNING id``: the same statement records the
   work as done, so a task another run has just handled no longer matches. On
   PostgreSQL a second UPDATE waits for the first one's row locks and then
   re-checks its WHERE clause against the committed row; SQLite runs one
   writer at a time (BEGIN IMMEDIATE);
3. one executemany INSERT (no RETURNING, so it is one statement) of a
   notification for each claimed id, and for no other.

A notification is the delivery of a task, so these checks raise action items
only where a person must step in (a recurring task that cannot repeat). Their
metrics count what was done (actions_taken) and their data lists it.

Ownership: scheduled_tasks has no agent column. A task belongs to the agent
of the property it names or, failing that, of its contact's property. A task
tied to neither is the agent's own errand ("call the bank"): it is handled
whatever HEARTBEAT_AGENT_ID says, because a heartbeat limited to one agent
would otherwise never deliver it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, String, and_, case, cast, exists, func, insert, literal, or_, select, update
from sqlalchemy.orm import aliased

from checks.registry import EVERY_MINUTE, SCHEDULED, check
from checks.schema import Contact, Contract, Notification, Property, ScheduledTask
from checks.sql import in_scope, json_from, json_value, notification_in_scope, session_of
from heartbeat_mcp.alerts import WEBHOOK, AlertPolicy, enqueue_from
from heartbeat_mcp.delivery import delivery_problems
from heartbeat_mcp.sqltypes import UTCDateTime
from heartbeat_mcp.task import ActionItem, CheckContext, CheckResult, Priority

# A task still waiting to be done; completed, cancelled, failed (and running,
# which the platform is handling) are left alone.
OPEN_STATUSES = ("pending", "scheduled")
ONE_OFF_TYPES = ("reminder", "follow_up", "contract_check")
# How many handled tasks a run lists in its data (its metrics count them all).
LISTED = 50

_home = aliased(Property, name="home")
_party = aliased(Contact, name="party")


def _open() -> ColumnElement[bool]:
    return and_(ScheduledTask.enabled.is_(True), ScheduledTask.status.in_(OPEN_STATUSES))


def open_tasks(ctx: CheckContext, *rule: ColumnElement[bool]) -> list[Row[Any]]:
    """Open, enabled tasks that satisfy `rule`, with their property and contact, in the agent's portfolio."""
    query = (
        select(
            ScheduledTask.id, ScheduledTask.task_type, ScheduledTask.title, ScheduledTask.scheduled_at,
            ScheduledTask.next_run_at, ScheduledTask.repeat_interval_hours, ScheduledTask.contact_id,
            _home.id.label("property_id"), _home.address, _home.agent_id,
            _of_contact(_party.name).label("contact_name"),
        )
        .outerjoin(_home, _home.id == func.coalesce(ScheduledTask.property_id, _of_contact(_party.property_id)))
        .where(_open(), *rule, *_in_portfolio(ctx))
        .order_by(ScheduledTask.scheduled_at, ScheduledTask.id)
    )
    return list(ctx.session.execute(query))


def _of_contact(column: Any) -> Any:
    """A column of the task's contact, looked up by id for each task rather than joined."""
    return select(column).where(_party.id == ScheduledTask.contact_id).scalar_subquery()


def _in_portfolio(ctx: CheckContext) -> list[ColumnElement[bool]]:
    """A task about no property is the agent's; one about a property, when its portfolio is HEARTBEAT_AGENT_ID's.

    Nothing at all when every agent is watched: "its property is one of all
    the properties" would cost PostgreSQL a hash of every property.
    """
    if ctx.settings.agent_id is None:
        return []
    return [or_(_home.id.is_(None), _home.id.in_(in_scope(select(Property.id), ctx)))]


def _claim(ctx: CheckContext, tasks: Sequence[Row[Any]], still_due: ColumnElement[bool],
           values: dict[str, Any]) -> list[Row[Any]]:
    """Mark the tasks done if no other run did so first; returns the ones this run claimed."""
    if not tasks:
        return []
    claimed = set(ctx.session.scalars(
        update(ScheduledTask)
        .where(ScheduledTask.id.in_([t.id for t in tasks]), _open(), still_due)
        .values(values)
        .returning(ScheduledTask.id)
        .execution_options(synchronize_session=False)
    ))
    return [t for t in tasks if t.id in claimed]


def _notify(ctx: CheckContext, tasks: Sequence[Row[Any]], build: Callable[[Row[Any]], tuple[str, str, str]],
            extra: Callable[[Row[Any]], dict[str, Any]] = lambda task: {}) -> None:
    """One notification per claimed task; `build` gives its (type, priority, message)."""
    rows = []
    for task in tasks:
        kind, priority, message = build(task)
        rows.append({
            "type": kind, "priority": priority, "title": task_title(task), "message": message,
            "property_id": task.property_id, "contact_id": task.contact_id, "contract_id": None,
            "agent_id": task.agent_id, "is_read": False, "is_dismissed": False, "created_at": ctx.now,
            "data": {"task_id": task.id, "task_type": task.task_type, "scheduled_at": task.scheduled_at.isoformat(),
                     **extra(task)},
        })
    if rows:
        # render_nulls: rows with and without a property stay one executemany.
        ctx.session.execute(insert(Notification).execution_options(render_nulls=True), rows)


def task_title(task: Row[Any]) -> str:
    return (task.title or "").strip().rstrip(".!") or "Untitled task"


def task_about(task: Row[Any]) -> str:
    """Whom and what the task concerns, for a spoken sentence: " (Pat Lee, 12 Oak Street)".

    A name or address the title already says is not said twice.
    """
    title = task_title(task).lower()
    parts = [p for p in (task.contact_name, task.address) if p and p.lower() not in title]
    return f" ({', '.join(parts)})" if parts else ""


def _done(tasks: Sequence[Row[Any]], **extra: Callable[[Row[Any]], Any]) -> list[dict[str, Any]]:
    return [{"task_id": t.id, "title": task_title(t), "task_type": t.task_type, **{k: f(t) for k, f in extra.items()}}
            for t in tasks[:LISTED]]


# --- due reminders, follow-ups and contract checks ----------------------------------

# (notification type, priority, how the sentence starts) per task type.
_DUE = {
    "reminder": ("scheduled_task", Priority.medium, "Reminder"),
    "follow_up": ("follow_up_due", Priority.high, "Follow-up due"),
    "contract_check": ("scheduled_task", Priority.medium, "Contract check due"),
}


def _due_now(now: datetime) -> ColumnElement[bool]:
    """Due, and not yet handled for this due time.

    last_run_at is the marker: the run that notifies sets it to its `now`,
    which is at or after scheduled_at, so the task stops matching. Moving
    scheduled_at later (the agent snoozes or reschedules it) makes it due
    again at the new time.
    """
    return and_(
        ScheduledTask.task_type.in_(ONE_OFF_TYPES),
        ScheduledTask.scheduled_at <= now,
        or_(ScheduledTask.last_run_at.is_(None), ScheduledTask.last_run_at < ScheduledTask.scheduled_at),
    )


def _due_notification(task: Row[Any]) -> tuple[str, str, str]:
    kind, priority, lead = _DUE[task.task_type]
    return kind, priority.value, f"{lead}: {task_title(task)}{task_about(task)}."


@check("due_reminders", group=SCHEDULED, schedule=EVERY_MINUTE, description="Process due reminders and follow-ups")
def due_reminders(ctx: CheckContext) -> CheckResult:
    """Deliver each due reminder, follow-up and contract check as one notification, exactly once.

    Rule (domain.md): enabled reminder, follow_up and contract_check tasks,
    pending or scheduled, with scheduled_at <= now. Notification type
    `follow_up_due` for follow-ups (priority high, like an overdue follow-up),
    `scheduled_task` for the others (medium). Reminders are then completed:
    telling the agent is all a reminder asks for. Follow-ups and contract
    checks stay open (the agent still has to make the call; a contract check
    is completed by `task_completion_triggers` when its contracts are signed),
    so last_run_at marks them notified for this due time: notified once, and
    again only if they are rescheduled. No action items: the notification is
    the delivery, and `overdue_follow_ups` keeps watching open follow-ups.
    Statements: 3 when something is due, 1 otherwise.
    """
    rule = _due_now(ctx.now)
    claimed = _claim(ctx, open_tasks(ctx, rule), rule, {
        "last_run_at": ctx.now,
        "status": case((ScheduledTask.task_type == "reminder", literal("completed")), else_=ScheduledTask.status),
    })
    _notify(ctx, claimed, _due_notification)
    completed = [t.id for t in claimed if t.task_type == "reminder"]
    return CheckResult(
        metrics={"actions_taken": len(claimed), "notifications_created": len(claimed),
                 "tasks_completed": len(completed)},
        data={"notified": _done(claimed), "completed": completed[:LISTED]},
    )


# --- recurring tasks ----------------------------------------------------------------


def next_run_after(previous: datetime, every: timedelta, now: datetime) -> datetime:
    """The first time strictly after `now` on the schedule that runs at `previous` and every `every` since.

    Missed periods collapse: after a long downtime the task runs once and
    keeps its phase (a 09:00 daily task stays a 09:00 task).
    """
    return previous + every * ((now - previous) // every + 1)


def _recurring_base() -> ColumnElement[datetime]:
    """When a recurring task is next due: next_run_at, or scheduled_at before its first run."""
    return func.coalesce(ScheduledTask.next_run_at, ScheduledTask.scheduled_at, type_=UTCDateTime())


def _base(task: Row[Any]) -> datetime:
    return task.next_run_at or task.scheduled_at


def _every(task: Row[Any]) -> timedelta:
    return timedelta(hours=task.repeat_interval_hours)


def _missed(task: Row[Any], now: datetime) -> int:
    """Periods that came due before this run's own (they collapse into it)."""
    return (now - _base(task)) // _every(task)


def _recurring_notification(now: datetime) -> Callable[[Row[Any]], tuple[str, str, str]]:
    def build(task: Row[Any]) -> tuple[str, str, str]:
        missed = _missed(task, now)
        note = (f" It also came due {missed} more time{'s' if missed != 1 else ''} while the heartbeat was not"
                f" running; this one run covers them.") if missed else ""
        return "scheduled_task", Priority.medium.value, f"Recurring task: {task_title(task)}{task_about(task)}.{note}"

    return build


def _each_own(next_runs: dict[int, datetime]) -> ColumnElement[datetime]:
    """One CASE that gives every task in one UPDATE its own new next_run_at."""
    if not next_runs:  # nothing to claim: the UPDATE is not issued
        return ScheduledTask.next_run_at
    return case({i: literal(at, UTCDateTime()) for i, at in next_runs.items()}, value=ScheduledTask.id)


def _cannot_repeat(task: Row[Any]) -> ActionItem:
    return ActionItem(
        subject=f"task:{task.id}",
        priority=Priority.medium,
        message=f"The recurring task {task_title(task)}{task_about(task)} has no repeat interval, so it cannot run.",
        next_step="Set how many hours apart it repeats, or turn it into a one-off reminder.",
        affected={"tasks": [task.id], "properties": [task.property_id] if task.property_id else [],
                  "contacts": [task.contact_id] if task.contact_id else []},
    )


@check("recurring_tasks", group=SCHEDULED, schedule=EVERY_MINUTE, description="Run recurring tasks")
def recurring_tasks(ctx: CheckContext) -> CheckResult:
    """Run each due recurring task once: notify, set last_run_at, move next_run_at past now.

    Rule (domain.md): enabled recurring tasks, pending or scheduled, whose
    next_run_at (or scheduled_at before the first run) is <= now. next_run_at
    becomes the first time strictly after now, stepping repeat_interval_hours
    from the previous next_run_at, so any number of missed periods gives one
    run and the schedule keeps its phase; the notification says how many
    periods were missed. The new times are computed in Python (exact, the
    same on both databases) and written by the claiming UPDATE as one CASE;
    its WHERE re-checks "next run <= now", so a task another replica has just
    moved forward is not run twice. Notification `scheduled_task`, medium.
    A due recurring task without a positive repeat_interval_hours cannot be
    scheduled: it is not run, and is reported (medium) for the agent to fix.
    Statements: 3 when something is due, 1 otherwise.
    """
    due = open_tasks(ctx, ScheduledTask.task_type == "recurring", _recurring_base() <= ctx.now)
    runnable = [t for t in due if (t.repeat_interval_hours or 0) > 0]
    broken = [t for t in due if (t.repeat_interval_hours or 0) <= 0]
    next_runs = {t.id: next_run_after(_base(t), _every(t), ctx.now) for t in runnable}
    claimed = _claim(
        ctx, runnable, and_(_recurring_base() <= ctx.now, ScheduledTask.repeat_interval_hours > 0),
        {"last_run_at": ctx.now, "next_run_at": _each_own(next_runs)},
    )
    _notify(ctx, claimed, _recurring_notification(ctx.now),
            lambda t: {"missed_periods": _missed(t, ctx.now), "next_run_at": next_runs[t.id].isoformat()})
    return CheckResult(
        items=[_cannot_repeat(t) for t in broken],
        metrics={"actions_taken": len(claimed), "notifications_created": len(claimed),
                 "missed_periods": sum(_missed(t, ctx.now) for t in claimed)},
        data={"ran": _done(claimed, next_run_at=lambda t: next_runs[t.id].isoformat(),
                           missed_periods=lambda t: _missed(t, ctx.now))},
    )


# --- contract checks completed by their contracts -----------------------------------


def _contracts_all_signed(property_id: ColumnElement[int]) -> ColumnElement[bool]:
    """The property has required contracts and every one of them is completed.

    A property with no required contract has nothing to check yet, so its
    contract check stays open. Like pipeline_advancement, only `completed`
    counts: a cancelled or expired required contract still needs replacing.
    """
    required = and_(Contract.property_id == property_id, Contract.is_required.is_(True))
    return and_(exists().where(required), ~exists().where(required, Contract.status != "completed"))


def _completion_notification(task: Row[Any]) -> tuple[str, str, str]:
    return ("contract_check_completed", Priority.low.value,
            f"Contract check done: {task_title(task)}. Every required contract for {task.address} is signed.")


@check("task_completion_triggers", group=SCHEDULED, schedule=EVERY_MINUTE,
       description="Complete contract checks whose contracts are all signed")
def task_completion_triggers(ctx: CheckContext) -> CheckResult:
    """Complete each open contract check whose property's required contracts are all signed, and say so.

    Rule (domain.md): contract_check tasks (enabled, pending or scheduled)
    whose property — the task's own, or its contact's — has at least one
    required contract and all of them completed: set status completed (and
    last_run_at) and create a `contract_check_completed` notification (low:
    good news, nothing to do). It does not wait for scheduled_at: once
    everything is signed there is nothing left to check. The status change is
    the compare-and-set, so two runs complete and notify a task once.
    Statements: 3 when something completes, 1 otherwise.
    """
    ready = open_tasks(ctx, ScheduledTask.task_type == "contract_check", _contracts_all_signed(_home.id))
    claimed = _claim(ctx, ready, ScheduledTask.task_type == "contract_check",
                     {"status": "completed", "last_run_at": ctx.now})
    _notify(ctx, claimed, _completion_notification)
    return CheckResult(
        metrics={"actions_taken": len(claimed), "notifications_created": len(claimed),
                 "tasks_completed": len(claimed)},
        data={"completed": _done(claimed, property_id=lambda t: t.property_id)},
    )


# --- handing notifications to the heartbeat's channels -------------------------------

# Notifications older than this when first seen are history (the digest tells it), not news.
FORWARD_WINDOW = timedelta(hours=1)
# A channel is reported failing once a notification has failed this many attempts on it.
FAILING_AFTER = 3


def _forwardable(ctx: CheckContext) -> Any:
    """The platform's recent notifications, shaped as outbox rows, each with a key that makes it once only."""
    query = (
        select(
            Notification.type.label("kind"), Notification.priority, Notification.title, Notification.message,
            json_from({"notification_id": Notification.id, "property_id": Notification.property_id,
                       "contact_id": Notification.contact_id, "contract_id": Notification.contract_id,
                       "agent_id": Notification.agent_id, "details": json_value(Notification.data)}).label("data"),
            (literal("notifications:") + cast(Notification.id, String)).label("dedupe_key"),
        )
        .outerjoin(Property, Property.id == Notification.property_id)
        .where(Notification.created_at > ctx.now - FORWARD_WINDOW, Notification.created_at <= ctx.now,
               Notification.is_read.is_(False), Notification.is_dismissed.is_(False))
    )
    return notification_in_scope(query, ctx)


def _failing_channel(problem: dict[str, Any]) -> ActionItem:
    channel = problem["channel"]
    where = "the webhook" if channel == WEBHOOK else "a connected voice assistant"
    return ActionItem(
        subject=f"channel:{channel}", priority=Priority.high,
        message=(f"Notifications are not getting through to {where}: {problem['waiting']} waiting, "
                 f"tried {problem['attempts']} times; {problem['last_error'] or 'no answer'}."),
        next_step=("Check that the webhook receiver is up; everything waiting is sent when it answers."
                   if channel == WEBHOOK else "Reconnect the voice assistant."),
        data={"channel": channel, "waiting": problem["waiting"], "attempts": problem["attempts"]},
    )


@check("deliver_notifications", group=SCHEDULED, schedule=EVERY_MINUTE, system=True,
       description="Deliver notifications to the configured channels")
def deliver_notifications(ctx: CheckContext) -> CheckResult:
    """Hand the platform's new notifications to the heartbeat's channels, once each, and report channels that fail.

    What the autonomous checks and the platform wrote to `notifications`
    (advances, due reminders, watchlist matches, the digest) goes into the
    heartbeat's outbox, which the engine's dispatcher sends to the webhook
    and to connected MCP clients beside the cycle, retrying until each
    arrives — so a slow receiver never holds up a check.

    Choices:
    - Only notifications created in the last hour are forwarded: on a first
      start, or after a long stop, older ones are history the daily digest
      tells, not news to push. Read or dismissed ones are not pushed.
    - Exactly once: each carries the key "notifications:<id>", unique in the
      outbox, inserted with ON CONFLICT DO NOTHING in one INSERT … SELECT.
    - Quiet hours, HEARTBEAT_NOTIFICATIONS_ENABLED and the channels are the
      heartbeat's own settings (heartbeat_mcp.alerts).
    - A channel with a notification that failed 3 attempts or more → high
      system item; it resolves, and says so, once the channel catches up.
    Statements: the INSERT … SELECT, the channel lookup and delivery rows
    when something was forwarded, and one read of failing channels.
    """
    session = session_of(ctx)
    forwarded = enqueue_from(session, AlertPolicy.from_settings(ctx.settings), _forwardable(ctx), ctx.now)
    problems = delivery_problems(session, failing_after=FAILING_AFTER)
    return CheckResult(
        items=[_failing_channel(p) for p in problems],
        metrics={"actions_taken": forwarded, "notifications_forwarded": forwarded,
                 "channels_failing": len(problems)},
        data={"forwarded": forwarded},
    )
