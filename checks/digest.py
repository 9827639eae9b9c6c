"""Daily digest: the morning briefing, spoken in a few sentences and kept as a notification.

Deterministic text from SQL counts: no language model. The voice assistant
reads `message` aloud; `data.text` holds the longer version for a screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, String, and_, case, func, insert, literal, or_, select, union_all

from checks.portfolio import CLOSED_CONTRACT_STATUSES
from checks.registry import DIGEST, check, daily_at_eight
from checks.schema import Contact, Contract, Notification, Property, ScheduledTask
from checks.sql import by_owner_index, in_scope, notification_in_scope, open_property
from heartbeat_mcp.models import ActionItemRow
from heartbeat_mcp.report import PRIORITY_ORDER, clip, plural, spoken_list
from heartbeat_mcp.task import CheckContext, CheckResult, Priority

WINDOW = timedelta(hours=24)
SPEECH_WORDS = 80
EXAMPLES = 3  # named per kind of happening in the text
TOP_ITEMS = 10  # open items listed in the text
LEAD_WORDS = 25  # the most pressing item, as spoken

# Kinds of happenings, in the order the digest tells them.
ADVANCED, MATCHED, SIGNED = "advanced", "matched", "signed"
LATE_CONTRACT, LATE_FOLLOW_UP = "late_contract", "late_follow_up"
LATE = (LATE_CONTRACT, LATE_FOLLOW_UP)


# --- reading ----------------------------------------------------------------------------


def _row(kind: str | ColumnElement[str], weight: Any, label: Any, detail: Any, at: Any, row_id: Any) -> Select[Any]:
    """The shape every kind of happening shares, so one UNION ALL reads them all (`kind`: a name or an expression)."""
    return select((literal(kind) if isinstance(kind, str) else kind).label("kind"), weight.label("weight"),
                  label.label("label"), detail.label("detail"), at.label("at"), row_id.label("row_id"))


def _happenings(ctx: CheckContext, since: datetime) -> Select[Any]:
    """Every kind of happening: its total and its first few examples, in one statement.

    Advances and matches come from the notifications the autonomous checks
    wrote (an advance's stage is its data "to", else the property's status
    now); signatures from contracts completed in the window; the overdue
    parts are the state now (as contract_deadlines and overdue_follow_ups see it:
    a required contract is late in any status but the settled ones, on a
    property still in the pipeline).

    Signed and late contracts come from one pass over the contracts (a
    contract is one or the other: completed is a settled status), read
    straight rather than through the status index (`by_owner_index`, which
    also keeps SQLite with statistics from splitting the OR over two index
    passes): completed is the commonest status, and SQLite fetching each
    completed contract's row from the index cost twice a plain pass over
    the table.
    """
    one, no_detail = literal(1), literal(None, String())

    def in_window(at: Any) -> Any:
        return and_(at > since, at <= ctx.now)

    def notified(kind: str) -> Any:
        return and_(Notification.type == kind, in_window(Notification.created_at))

    advanced = notification_in_scope(
        _row(ADVANCED, one, Property.address, func.coalesce(Notification.data["to"].as_string(), Property.status),
             Notification.created_at, Notification.id)
        .join_from(Notification, Property, Property.id == Notification.property_id)
        .where(notified("pipeline_auto_advance")), ctx)
    matched = notification_in_scope(
        _row(MATCHED, func.coalesce(Notification.data["match_count"].as_integer(), 1), Notification.message,
             no_detail, Notification.created_at, Notification.id)
        .outerjoin_from(Notification, Property, Property.id == Notification.property_id)
        .where(notified("watchlist_match")), ctx)
    signed = and_(by_owner_index(Contract.status) == "completed", in_window(Contract.completed_at))
    late = and_(Contract.is_required, Contract.status.not_in(CLOSED_CONTRACT_STATUSES), open_property(),
                Contract.required_by_date < ctx.now)
    signed_or_late = in_scope(
        _row(case((signed, SIGNED), else_=LATE_CONTRACT), one, Property.address, Contract.name,
             case((signed, Contract.completed_at), else_=Contract.required_by_date), Contract.id)
        .join_from(Contract, Property, Property.id == Contract.property_id)
        .where(or_(signed, late)), ctx)
    late_follow_ups = in_scope(
        _row(LATE_FOLLOW_UP, one, Property.address, ScheduledTask.title, ScheduledTask.scheduled_at, ScheduledTask.id)
        .select_from(ScheduledTask)
        .outerjoin(Contact, Contact.id == ScheduledTask.contact_id)
        .outerjoin(Property, Property.id == func.coalesce(ScheduledTask.property_id, Contact.property_id))
        .where(ScheduledTask.task_type == "follow_up", ScheduledTask.enabled,
               ScheduledTask.status.in_(("pending", "scheduled")), ScheduledTask.scheduled_at < ctx.now), ctx)
    every = union_all(advanced, matched, signed_or_late, late_follow_ups).subquery("happenings")
    late_first = case((every.c.kind.in_(LATE), every.c.at))  # overdue: the longest late first; events: newest
    ranked = select(
        every,
        func.sum(every.c.weight).over(partition_by=every.c.kind).label("total"),
        func.count().over(partition_by=every.c.kind).label("rows"),
        func.row_number().over(partition_by=every.c.kind,
                               order_by=(late_first.asc(), every.c.at.desc(), every.c.row_id.desc())).label("rank"),
    ).subquery("ranked")
    return select(ranked).where(ranked.c.rank <= EXAMPLES).order_by(ranked.c.kind, ranked.c.rank)


def _waiting(now: datetime) -> Any:
    """An open item nobody has acknowledged or snoozed."""
    item = ActionItemRow
    return and_(item.resolved_at.is_(None), item.acknowledged_at.is_(None),
                or_(item.snoozed_until.is_(None), item.snoozed_until <= now))


def _needs_attention(now: datetime) -> Select[Any]:
    """The first few waiting items, most important first: ORDER BY … LIMIT, no numbering of every one."""
    item = ActionItemRow
    return (select(item.priority, item.message, item.next_step).where(_waiting(now))
            .order_by(PRIORITY_ORDER.desc(), item.first_seen, item.id).limit(TOP_ITEMS))


def _waiting_by_priority(now: datetime) -> Select[Any]:
    """How many items wait, per priority: one grouped pass.

    A statement of its own rather than windows over the items (which made
    both databases sort and buffer every waiting item for ten of them) or a
    join to the first few (which PostgreSQL, with no statistics yet on the
    items, ran once per item listed).
    """
    item = ActionItemRow
    return select(item.priority, func.count().label("items")).where(_waiting(now)).group_by(item.priority)


# --- what was found ---------------------------------------------------------------------


@dataclass
class Happening:
    total: int = 0  # in the kind's unit: listings for matches, else rows
    rows: int = 0
    examples: list[Any] = field(default_factory=list)


@dataclass
class Digest:
    now: datetime
    timezone: str
    happenings: dict[str, Happening]
    items: list[Any]
    waiting_counts: dict[str, int]

    def count(self, kind: str) -> int:
        return self.happenings[kind].total

    def examples(self, kind: str) -> list[Any]:
        return self.happenings[kind].examples

    @property
    def by_priority(self) -> dict[str, int]:
        return {p.value: self.waiting_counts.get(p.value, 0) for p in Priority}

    @property
    def waiting(self) -> int:
        return sum(self.by_priority.values())

    @property
    def counts(self) -> dict[str, int]:
        return {
            "advances": self.count(ADVANCED), "watchlist_matches": self.count(MATCHED),
            "contracts_signed": self.count(SIGNED), "overdue_contracts": self.count(LATE_CONTRACT),
            "overdue_follow_ups": self.count(LATE_FOLLOW_UP), "needs_attention": self.waiting,
            **{f"{p}_items": n for p, n in self.by_priority.items()},
        }

    @property
    def urgent(self) -> bool:
        """Something is urgent: an urgent item waits, or a required contract is past its deadline."""
        return self.by_priority[Priority.urgent.value] > 0 or self.count(LATE_CONTRACT) > 0

    def late_by(self, at: datetime) -> str:
        days = int((self.now - at).total_seconds() // 86_400)
        return f"{plural(days, 'day')} late" if days else "less than a day late"


def _read(ctx: CheckContext) -> Digest:
    happenings = {kind: Happening() for kind in (ADVANCED, MATCHED, SIGNED, *LATE)}
    for row in ctx.session.execute(_happenings(ctx, ctx.now - WINDOW)):
        happening = happenings[row.kind]
        happening.total, happening.rows = int(row.total), int(row.rows)
        happening.examples.append(row)
    items = list(ctx.session.execute(_needs_attention(ctx.now)))
    waiting_counts = {row.priority: int(row.items) for row in ctx.session.execute(_waiting_by_priority(ctx.now))}
    return Digest(ctx.now, ctx.settings.timezone, happenings, items, waiting_counts)


# --- the spoken summary -----------------------------------------------------------------


def _properties(n: int) -> str:
    return "1 property" if n == 1 else f"{n} properties"


def _stage(status: str) -> str:
    return status.replace("_", " ")


def _contract(row: Any) -> str:
    return f"the {row.detail} for {row.label}"


def _happened(d: Digest) -> list[str]:
    parts = []
    if n := d.count(ADVANCED):
        first = d.examples(ADVANCED)[0]
        parts.append(f"{first.label} moved to {_stage(first.detail)}" if n == 1
                     else f"{_properties(n)} moved ahead in the pipeline, including {first.label}")
    if n := d.count(MATCHED):
        parts.append(f"{plural(n, 'new listing')} matched your watchlists")
    if n := d.count(SIGNED):
        first = d.examples(SIGNED)[0]
        parts.append(f"{_contract(first)} was signed" if n == 1
                     else f"{n} contracts were signed, including {_contract(first)}")
    return parts


def _overdue(d: Digest) -> list[str]:
    parts = []
    if n := d.count(LATE_CONTRACT):
        first = d.examples(LATE_CONTRACT)[0]
        parts.append(f"{_contract(first)}, {d.late_by(first.at)}" if n == 1
                     else f"{n} required contracts, the oldest for {first.label}")
    if n := d.count(LATE_FOLLOW_UP):
        parts.append(plural(n, "follow-up"))
    return parts


def _series(parts: Sequence[str]) -> str:
    """A spoken list; semicolons between parts that carry commas of their own."""
    if len(parts) > 1 and any("," in part for part in parts):
        return "; ".join(parts[:-1]) + "; and " + parts[-1]
    return spoken_list(list(parts))


def _attention(d: Digest) -> list[str]:
    if not d.waiting:
        return ["Nothing needs your attention today."]
    urgent = d.by_priority[Priority.urgent.value]
    sentence = f"Today {plural(d.waiting, 'item')} {'needs' if d.waiting == 1 else 'need'} your attention"
    if urgent:
        sentence += ", and it is urgent" if d.waiting == 1 else f", {urgent} of them urgent"
    return [sentence + ".", "Most pressing: " + clip(d.items[0].message, LEAD_WORDS)]


def speech(d: Digest) -> str:
    """At most SPEECH_WORDS words: what happened, what is overdue, what needs attention today."""
    happened, overdue = _happened(d), _overdue(d)
    if not (happened or overdue or d.waiting):
        return "Good morning. A quiet day: nothing happened in the last 24 hours and nothing needs your attention today."
    sentences = ["Good morning."]
    sentences.append(f"In the last 24 hours, {_series(happened)}." if happened
                     else "Nothing new happened in the last 24 hours.")
    if overdue:
        sentences.append(f"Overdue: {_series(overdue)}.")
    sentences.extend(_attention(d))
    return _fit(sentences, SPEECH_WORDS)


def _fit(sentences: Sequence[str], limit: int) -> str:
    """Whole sentences while they fit; the one that does not is clipped to the words left, if any are."""
    kept: list[str] = []
    left = limit
    for sentence in sentences:
        words = len(sentence.split())
        if words > left:
            if left:
                kept.append(clip(sentence, left))
            break
        kept.append(sentence)
        left -= words
    return " ".join(kept)


# --- the longer text --------------------------------------------------------------------


def _task(row: Any) -> str:
    """A task's title, with its property's address unless the title already names it."""
    return row.detail if not row.label or row.label in row.detail else f"{row.detail} ({row.label})"


def _more(total: int, shown: int) -> list[str]:
    return [f"  and {total - shown} more"] if total > shown else []


def _section(d: Digest, kind: str, heading: str, line: Any) -> list[str]:
    n = d.count(kind)
    if not n:
        return []
    examples = d.examples(kind)
    return [f"- {heading(n)}:", *(f"  {line(row)}" for row in examples),
            *_more(d.happenings[kind].rows, len(examples))]


def text(d: Digest) -> str:
    """A few short sections of plain lines, for a screen or an email."""
    day = d.now.astimezone(ZoneInfo(d.timezone))
    lines = [f"Daily digest for {day:%A} {day.day} {day:%B} {day.year}", "", "In the last 24 hours"]
    happened = [
        *_section(d, ADVANCED, lambda n: f"{_properties(n)} moved ahead in the pipeline",
                  lambda r: f"{r.label}, now {_stage(r.detail)}"),
        *_section(d, MATCHED, lambda n: f"{plural(n, 'new listing')} matched your watchlists", lambda r: r.label),
        *_section(d, SIGNED, lambda n: f"{plural(n, 'contract')} signed", lambda r: f"{r.detail} for {r.label}"),
    ]
    lines += happened or ["- Nothing new."]
    lines += ["", "Overdue"]
    overdue = [
        *_section(d, LATE_CONTRACT, lambda n: f"{plural(n, 'required contract')} past the deadline",
                  lambda r: f"{r.detail} for {r.label}, {d.late_by(r.at)}"),
        *_section(d, LATE_FOLLOW_UP, lambda n: f"{plural(n, 'follow-up')} overdue",
                  lambda r: f"{_task(r)}, {d.late_by(r.at)}"),
    ]
    lines += overdue or ["- Nothing overdue."]
    lines += ["", f"Needs attention today ({d.waiting})"]
    lines += [f"- {row.priority.capitalize()}: {row.message}{f' Next: {row.next_step}' if row.next_step else ''}"
              for row in d.items] or ["- Nothing."]
    lines += _more(d.waiting, len(d.items))
    return "\n".join(lines)


# --- the check --------------------------------------------------------------------------


@check("daily_digest", group=DIGEST, schedule=daily_at_eight(), description="Prepare the morning briefing")
def daily_digest(ctx: CheckContext) -> CheckResult:
    """Write the morning briefing as one `daily_digest` notification.

    Rule (domain.md): what happened in the last 24 hours — pipeline advances
    (`pipeline_auto_advance` notifications), new watchlist matches
    (`watchlist_match` notifications, counted in listings), contracts
    completed in the window, and what is overdue now (required contracts past
    required_by_date, enabled follow-ups pending or scheduled before now) —
    and what needs attention today: the open action items by priority. The
    spoken summary (`message`) has at most 80 words; `data` holds the longer
    text and the counts. No action items: everything it mentions is already
    tracked by its own check.

    Choices:
    - Priority medium when something urgent is open (an urgent item, or a
      required contract past its deadline, which contract_deadlines calls
      urgent), else low.
    - "Needs attention" leaves out acknowledged and snoozed items, as the
      heartbeat report does. Action items carry no agent: they come from
      checks already limited to HEARTBEAT_AGENT_ID, so they are read as they
      are; notifications, contracts and tasks are limited here. A follow-up
      tied to no property (directly or through its contact) belongs to no
      known agent and is left out when HEARTBEAT_AGENT_ID is set.
    - Deterministic: the same rows and clock give the same words; ties are
      broken by id. The date is the agent's (HEARTBEAT_TIMEZONE). A manual
      run writes another digest: it is a fresh briefing, not a duplicate.
    - Statements: one UNION ALL for the happenings, one for the first items, one for the counts of
      items by priority, one insert.
    """
    digest = _read(ctx)
    spoken, long_text, counts = speech(digest), text(digest), digest.counts
    ctx.session.execute(insert(Notification.__table__).values(
        type="daily_digest", priority=(Priority.medium if digest.urgent else Priority.low).value,
        title="Daily digest", message=spoken, agent_id=ctx.settings.agent_id,
        data={"text": long_text, "counts": counts, "since": (ctx.now - WINDOW).isoformat()},
        is_read=False, is_dismissed=False, created_at=ctx.now,
    ))
    examined = sum(len(h.examples) for h in digest.happenings.values()) + len(digest.items)
    return CheckResult(
        metrics={"rows_examined": examined, "actions_taken": 1},
        data={"speech": spoken, "text": long_text, "counts": counts},
    )
