"""Which findings the agent hears about, and when: on transitions only, grouped, quiet at night.

A check that finds the same stale listing every five minutes must not say so
every five minutes. After a run's findings are synced into action items, the
run's transaction also writes the notifications its changes call for:

- an item that is new (or back after it was resolved) → told once;
- an item whose priority rose above the priority it was last told at → told again;
- an open item nobody acknowledged, once its priority's repeat interval has
  passed since it was last told (and once a snooze on it ends) → told again;
- a system alert that ended → told that it ended.

Items of one run that share a reason and a priority make one notification
("3 new stale properties findings, the first: …"), so a first run over a
large portfolio is one message per priority, not thousands. Inside quiet
hours every notification but an urgent one is held until the window ends and
then sent with the others as one summary (see `delivery`).

The notification rows and one delivery row per channel are written in the
same transaction as the run's result, so a notification exists exactly when
the finding that caused it was recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, and_, case, func, insert, literal, or_, select, true, update
from sqlalchemy.orm import Session

from heartbeat_mcp.database import insert_with_conflicts, json_rows
from heartbeat_mcp.models import ActionItemRow, Delivery, OutboxNotification, Replica
from heartbeat_mcp.policy import QuietHours, RepeatIntervals
from heartbeat_mcp.registry import spoken_task
from heartbeat_mcp.report import clip, plural
from heartbeat_mcp.settings import Settings
from heartbeat_mcp.sqltypes import UTCDateTime
from heartbeat_mcp.store import FAILING_SUBJECT, Synced
from heartbeat_mcp.task import Priority, TaskSpec

ACTION_NEEDED = "HEARTBEAT_ACTION_NEEDED"
SYSTEM_ALERT = "HEARTBEAT_SYSTEM_ALERT"
TASK_FAILED = "HEARTBEAT_TASK_FAILED"
CYCLE_COMPLETE = "HEARTBEAT_CYCLE_COMPLETE"

WEBHOOK = "webhook"
MCP_CHANNEL_PREFIX = "mcp:"
# A replica that has not touched its row for this long is no longer serving clients.
REPLICA_ALIVE = timedelta(minutes=2)
NAMED_IN_MESSAGE = 3
LISTED_IN_DATA = 50


def mcp_channel(replica_id: str) -> str:
    """The MCP channel of one serving process: its connected clients."""
    return MCP_CHANNEL_PREFIX + replica_id


@dataclass(frozen=True)
class AlertPolicy:
    """The settings that decide whether and when notifications go out."""

    enabled: bool
    timezone: str
    quiet_hours: QuietHours | None
    repeats: RepeatIntervals
    cycle_complete: bool
    webhook: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertPolicy:
        return cls(
            enabled=settings.notifications_enabled, timezone=settings.timezone, quiet_hours=settings.quiet_hours,
            repeats=settings.repeat_interval, cycle_complete=settings.notify_cycle_complete,
            webhook=settings.webhook_url is not None,
        )

    def held_until(self, priority: str, now: datetime) -> datetime | None:
        """When a notification created now may go out: None for at once, else the end of quiet hours."""
        if self.quiet_hours is None or priority == Priority.urgent.value:
            return None
        if not self.quiet_hours.contains(now, self.timezone):
            return None
        return self.quiet_hours.ends_after(now, self.timezone)


@dataclass(frozen=True)
class NewNotification:
    kind: str
    priority: str
    title: str
    message: str
    data: dict[str, Any]
    task_name: str | None = None


# --- what a run's changes call for ------------------------------------------------------

NEW, ESCALATED, REPEAT, RESOLVED = "new", "escalated", "repeat", "resolved"
_REASON_WORDS = {NEW: "new", ESCALATED: "more urgent", REPEAT: "still open", RESOLVED: "resolved"}


def _repeat_cutoffs(repeats: RepeatIntervals, now: datetime) -> Any:
    """A SQL condition: the item was last told longer ago than its priority's repeat interval."""
    told_long_ago = []
    for priority in Priority:
        seconds = repeats.seconds_for(priority)
        if seconds is not None:
            told_long_ago.append(and_(ActionItemRow.priority == priority.value,
                                      ActionItemRow.last_notified_at <= now - timedelta(seconds=seconds)))
    return or_(*told_long_ago) if told_long_ago else False


def _candidates(task: str, now: datetime, repeats: RepeatIntervals, subjects: Sequence[str] | None) -> Select[Any]:
    """Open items of the task that may need telling: never told, escalated, or due to be repeated.

    Acknowledged items are only told again when they escalate; snoozed ones
    stay silent until the snooze ends, and are then due at once. Each comes
    with why it is told and the size of its group (same reason, same
    priority); only the first LISTED_IN_DATA of a group, which its
    notification names, bring their subject, message and affected records:
    a first run over thousands of findings reads ids, not documents.
    """
    item = ActionItemRow
    snooze_over = or_(item.snoozed_until.is_(None), item.snoozed_until <= now)
    snooze_ended_since_told = and_(item.snoozed_until.is_not(None), item.last_notified_at < item.snoozed_until)
    # An item that calmed down keeps the priority it was told at: told again only above it.
    reason = case(
        (or_(item.last_notified_at.is_(None), item.last_notified_priority.is_(None)), NEW),
        (_rank(item.priority) > _rank(item.last_notified_priority), ESCALATED),
        else_=REPEAT,
    )
    due = select(item.id, item.priority, reason.label("reason"), item.subject, item.message, item.affected).where(
        item.task_name == task, item.resolved_at.is_(None), snooze_over,
        or_(
            item.last_notified_at.is_(None),
            item.last_notified_priority.is_(None),
            _rank(item.priority) > _rank(item.last_notified_priority),
            and_(item.acknowledged_at.is_(None), or_(_repeat_cutoffs(repeats, now), snooze_ended_since_told)),
        ),
    )
    if subjects is not None:
        due = due.where(item.subject.in_(list(subjects)))
    found = due.subquery("due")
    group = (found.c.reason, found.c.priority)
    ranked = select(
        found, func.row_number().over(partition_by=group, order_by=found.c.id).label("position"),
        func.count().over(partition_by=group).label("in_group"),
    ).subquery("ranked")
    listed = ranked.c.position <= LISTED_IN_DATA
    return select(
        ranked.c.id, ranked.c.priority, ranked.c.reason, ranked.c.in_group, ranked.c.position,
        *(case((listed, column), else_=None).label(column.name)
          for column in (ranked.c.subject, ranked.c.message, ranked.c.affected)),
    ).order_by(ranked.c.id)


def _rank(priority: Any) -> Any:
    return case({p.value: p.rank for p in Priority}, value=priority, else_=-1)


@dataclass(frozen=True)
class _Group:
    """The items one notification is about: how many, and the first of them (by id), which it names."""

    size: int
    listed: list[Any]


def notify_for_run(session: Session, policy: AlertPolicy, spec: TaskSpec, synced: Synced, now: datetime, *,
                   subjects: Sequence[str] | None = None) -> int:
    """Write the notifications a task run's synced items call for; returns how many.

    No statement at all when the task has nothing open and nothing ended;
    otherwise one read of the candidates and a handful of writes, whatever
    the number of items: the items told are marked in one UPDATE, their ids
    sent as one parameter.
    """
    ended_ids = [item_id for item_id, subject in synced.resolved if spec.system or subject == FAILING_SUBJECT]
    groups: dict[tuple[str, str], _Group] = {}
    told: list[int] = []
    if synced.has_open:
        for row in session.execute(_candidates(spec.name, now, policy.repeats, subjects)):
            told.append(row.id)
            group = groups.setdefault((row.reason, row.priority), _Group(row.in_group, []))
            if row.position <= LISTED_IN_DATA:
                group.listed.append(row)
    if ended_ids:
        ended = list(session.execute(
            select(ActionItemRow.id, ActionItemRow.subject, ActionItemRow.message, ActionItemRow.affected)
            .where(ActionItemRow.id.in_(ended_ids)).order_by(ActionItemRow.id)
        ))
        groups[(RESOLVED, Priority.low.value)] = _Group(len(ended), ended[:LISTED_IN_DATA])
    if told:
        told_ids = json_rows(session, "told", {"id": Integer()}, [(item_id,) for item_id in told])
        session.execute(
            update(ActionItemRow).where(ActionItemRow.id.in_(select(told_ids.c.id)))
            .values(last_notified_at=now, last_notified_priority=ActionItemRow.priority)
            .execution_options(synchronize_session=False)
        )
    notes = [_notification(spec, reason, priority, group) for (reason, priority), group in sorted(
        groups.items(), key=lambda kv: (-Priority(kv[0][1]).rank, kv[0][0]))]
    enqueue(session, policy, notes, now)
    return len(notes)


def _kind(spec: TaskSpec, subject: str) -> str:
    if subject == FAILING_SUBJECT:
        return TASK_FAILED
    return SYSTEM_ALERT if spec.system else ACTION_NEEDED


def _notification(spec: TaskSpec, reason: str, priority: str, group: _Group) -> NewNotification:
    first = group.listed[0]
    name = spoken_task(spec.name)
    if group.size == 1:
        lead = {NEW: "", ESCALATED: "Now more urgent: ", REPEAT: "Still open: ", RESOLVED: "Resolved: "}[reason]
        message = f"{lead}{first.message}"
    else:
        message = (f"{group.size} {_REASON_WORDS[reason]} {name} findings. "
                   f"{'First' if reason != RESOLVED else 'Among them'}: {clip(first.message, 30)}")
    title = (f"{spec.name.replace('_', ' ').capitalize()}: "
             f"{plural(group.size, 'item')} {_REASON_WORDS[reason]}")
    affected: dict[str, list[int]] = {}
    for row in group.listed:
        for kind, ids in (row.affected or {}).items():
            bucket = affected.setdefault(kind, [])
            bucket.extend(i for i in ids if i not in bucket)
    return NewNotification(
        kind=_kind(spec, first.subject), priority=priority, title=title, message=message, task_name=spec.name,
        data={"task": spec.name, "reason": reason, "item_count": group.size,
              "action_items": [row.id for row in group.listed],
              **{f"affected_{kind}": ids for kind, ids in affected.items()}},
    )


# --- the outbox ---------------------------------------------------------------------------


def channels(session: Session, policy: AlertPolicy, now: datetime) -> list[str]:
    """Where a notification written now goes: the webhook when configured, and every serving process's clients."""
    serving = session.scalars(
        select(Replica.id).where(Replica.transports != "", Replica.last_seen > now - REPLICA_ALIVE).order_by(Replica.id)
    )
    return ([WEBHOOK] if policy.webhook else []) + [mcp_channel(replica) for replica in serving]


def enqueue(session: Session, policy: AlertPolicy, notes: Sequence[NewNotification], now: datetime) -> list[int]:
    """Write notifications and their deliveries; two executemany INSERTs and one read of the channels."""
    if not notes:
        return []
    rows = [
        {"kind": n.kind, "priority": n.priority, "title": n.title[:300], "message": n.message, "data": n.data,
         "task_name": n.task_name, "dedupe_key": None, "held_until": policy.held_until(n.priority, now),
         "suppressed": not policy.enabled, "created_at": now}
        for n in notes
    ]
    ids = list(session.scalars(
        insert(OutboxNotification).returning(OutboxNotification.id, sort_by_parameter_order=True), rows,
    ))
    if policy.enabled:
        _deliveries(session, [(i, row["held_until"]) for i, row in zip(ids, rows)], channels(session, policy, now), now)
    return ids


def enqueue_from(session: Session, policy: AlertPolicy, source: Select[Any], now: datetime) -> int:
    """Forward a check pack's own notifications, once each: INSERT … SELECT … ON CONFLICT DO NOTHING.

    `source` selects columns labelled kind, priority, title, message, data
    and dedupe_key (unique per notification, e.g. "notifications:12").
    Returns how many were new.
    """
    sub = source.subquery("forwarded")
    held = policy.held_until(Priority.low.value, now)  # the same window end for every non-urgent one
    values = select(
        sub.c.kind, sub.c.priority, sub.c.title, sub.c.message, sub.c.data, sub.c.dedupe_key,
        _held_unless_urgent(sub.c.priority, held), literal(not policy.enabled), literal(now, UTCDateTime()),
    ).where(true())  # SQLite reads "ON CONFLICT" after a bare FROM as a join condition; a WHERE ends the FROM

    statement = (
        insert_with_conflicts(session, OutboxNotification)
        .from_select(["kind", "priority", "title", "message", "data", "dedupe_key", "held_until", "suppressed",
                      "created_at"], values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxNotification.id, OutboxNotification.held_until)
    )
    created = list(session.execute(statement))
    if created and policy.enabled:
        _deliveries(session, [(row.id, row.held_until) for row in created], channels(session, policy, now), now)
    return len(created)


def _held_unless_urgent(priority: Any, held: datetime | None) -> Any:
    if held is None:
        return literal(None, UTCDateTime())
    return case((priority == Priority.urgent.value, literal(None, UTCDateTime())), else_=literal(held, UTCDateTime()))


def _deliveries(session: Session, notes: Sequence[tuple[int, datetime | None]], to: Sequence[str],
                now: datetime) -> None:
    rows = [
        {"notification_id": note_id, "channel": channel, "status": "pending", "attempts": 0,
         "next_attempt_at": held or now, "created_at": now}
        for note_id, held in notes for channel in to
    ]
    if rows:
        session.execute(insert(Delivery), rows)


def recent(session: Session, limit: int) -> list[dict[str, Any]]:
    """The latest notifications that were meant to go out, each with its channels' states, newest first."""
    notes = list(session.execute(
        select(OutboxNotification).where(OutboxNotification.suppressed.is_(False))
        .order_by(OutboxNotification.id.desc()).limit(limit)
    ).scalars())
    channels_of: dict[int, dict[str, str]] = {}
    if notes:
        for note_id, channel, status in session.execute(
            select(Delivery.notification_id, Delivery.channel, Delivery.status)
            .where(Delivery.notification_id.in_([n.id for n in notes]))
        ):
            channels_of.setdefault(note_id, {})[channel] = status
    return [
        {"id": n.id, "type": n.kind, "priority": n.priority, "title": n.title, "message": n.message,
         "created_at": n.created_at.isoformat(), "held_until": n.held_until.isoformat() if n.held_until else None,
         "channels": channels_of.get(n.id, {}), "data": n.data}
        for n in notes
    ]
