"""Relationship health: is the agent keeping in touch with the people each open deal depends on?

The contacts watched are those of properties that are not complete (a closed
deal's lawyer is not a relationship to nurse), limited to HEARTBEAT_AGENT_ID's
portfolio when it is set. An interaction is domain.md's (checks.sql.interactions):
a note on the contact's property naming them, a contract linked to them, an
offer they made as buyer. Interactions dated after `now` have not happened
yet and are ignored everywhere.

The name-in-note scan behind interactions is the expensive part: every check
that needs it bounds it in time — scores look 30 days back, outreach 14 days
(90 for the "last heard from" in its message, and only for the contacts it
reports) — and only over contacts of open properties. Scores read every
interaction of the period in one pass (checks.sql.interactions); outreach
only asks, per contact, whether there was one (checks.sql.no_interaction),
which stops at the first it finds. Each check issues a fixed number of
statements whatever the portfolio size; scores are computed and written by
one INSERT … SELECT, so nothing is written row by row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, select

from checks.registry import HOURLY, RELATIONSHIPS, check
from checks.scheduled import open_tasks, task_about, task_title
from checks.schema import KEY_CONTACT_ROLES, Contact, Property, RelationshipScoreSnapshot, ScheduledTask
from checks.spoken import spoken_age, spoken_number
from checks.sql import (
    CONTRACT, NOTE, OFFER, computed_once, count_of, days_between, in_scope, interactions, json_from, last_interaction,
    no_interaction, open_property, rounded, rounded_exactly, session_of, utc,
)
from heartbeat_mcp.task import ActionItem, CheckContext, CheckResult, Priority

SNAPSHOT_DAYS = 2
# The relationship score: points per component, and the window it is measured over.
SCORE_WINDOW = timedelta(days=30)
RECENCY_POINTS = 40.0
FREQUENCY_POINTS_EACH, FREQUENCY_CAP = 3.0, 10  # 3 points per interaction, up to 10 interactions
RESPONSIVENESS_POINTS = 20.0
BREADTH_POINTS = 10.0
INTERACTION_KINDS = (NOTE, CONTRACT, OFFER)
COMPONENTS = ("recency", "frequency", "responsiveness", "breadth")
LOWEST_REPORTED = 10

COOLING_DROP = 0.10
CLOSEST_ROLES = ("buyer", "seller")

OUTREACH_AFTER = timedelta(days=14)
LAST_HEARD_WINDOW = timedelta(days=90)

_snapshot = RelationshipScoreSnapshot


# --- who is watched ----------------------------------------------------------------------


def _watched_contacts(ctx: CheckContext, *roles: str) -> Select[Any]:
    """Contacts of the agent's open properties (of the given roles, if any), joined to their property."""
    query = select(Contact.id).join(Property, Property.id == Contact.property_id).where(open_property())
    if roles:
        query = query.where(Contact.role.in_(roles))
    return in_scope(query, ctx)


def _spoken_role(role: str) -> str:
    return role.replace("_", " ")


def _who(row: Any) -> str:
    """A contact as said aloud: "Pat Lee, the buyer for 12 Oak Street"."""
    return f"{row.name}, the {_spoken_role(row.role)} for {row.address}"


def _contact_affected(row: Any) -> dict[str, list[int]]:
    return {"contacts": [row.id], "properties": [row.property_id]}


# --- relationship_scores -----------------------------------------------------------------


@check("relationship_scores", group=RELATIONSHIPS, schedule=HOURLY,
       description="Score relationships with every active contact")
def relationship_scores(ctx: CheckContext) -> CheckResult:
    """Score every contact of an open property 0–100 and store one snapshot each.

    Formula, over the interactions of the last 30 days (the scan's time
    bound; older ones no longer say anything about how warm a deal's
    relationship is now):

        score = recency + frequency + responsiveness + breadth
        recency        0–40  40 × (1 − days since the last interaction / 30);
                             0 with no interaction in 30 days
        frequency      0–30  3 per interaction, counting up to 10
        responsiveness 0–20  20 × responses / interactions (0 with none)
        breadth        0–10  10 × kinds used (note, contract, offer) / 3

    Recency decays linearly rather than in steps, so an hour more of silence
    never looks like a sudden cooling. Each component is rounded to one
    decimal and the score is their sum. The snapshot's components hold the
    four points plus `interactions` (the 30-day count) and `days_since_last`
    (to a hundredth of a day; null when none), which cooling_relationships
    uses to say when the contact was last heard from. Every run adds one
    snapshot per contact: the history is what shows a relationship cooling.
    Snapshots are kept for SNAPSHOT_DAYS (two days): an hourly score of every
    contact grows by millions of rows a week on a large portfolio, and
    cooling only ever compares the last two.

    No action items: a low score alone is not something to act on —
    cooling_relationships and contacts_needing_outreach turn scores and
    silence into actions. The report carries the number scored and the
    lowest-scoring key contacts (buyers, sellers, lawyers, attorneys,
    lenders). Statements: one DELETE of expired snapshots, one INSERT …
    SELECT, one read of the lowest.
    """
    session = session_of(ctx)
    session.execute(_snapshot.__table__.delete().where(_snapshot.scored_at < ctx.now - timedelta(days=SNAPSHOT_DAYS)))
    scored = session.execute(
        _snapshot.__table__.insert().from_select(["contact_id", "score", "components", "scored_at"], _scores(ctx))
        # SQLAlchemy keeps an INSERT's rowcount only when asked (psycopg's is gone once the cursor closes).
        .execution_options(preserve_rowcount=True)
    ).rowcount
    lowest = session.execute(_lowest_key_contacts(ctx)).all()
    return CheckResult(
        metrics={"rows_examined": scored, "actions_taken": 0},
        data={
            "contacts_scored": scored,
            "lowest": [
                {"contact": r.id, "name": r.name, "role": r.role, "property": r.property_id, "address": r.address,
                 "score": r.score}
                for r in lowest
            ],
        },
    )


def _scores(ctx: CheckContext) -> Select[Any]:
    """One snapshot row (contact_id, score, components, scored_at) per watched contact."""
    watched = _watched_contacts(ctx)
    known = interactions(watched, since=ctx.now - SCORE_WINDOW, until=ctx.now)
    stats = select(
        known.c.contact_id,
        func.count().label("interactions"),
        func.max(known.c.at).label("last_at"),
        func.sum(case((known.c.is_response, 1), else_=0)).label("responses"),
        # Kinds used, as a sum of one flag per kind: unlike COUNT(DISTINCT), PostgreSQL can hash it.
        sum((func.max(case((known.c.kind == kind, 1), else_=0)) for kind in INTERACTION_KINDS), literal(0))
        .label("kinds"),
    ).group_by(known.c.contact_id).subquery("stats")
    count = func.coalesce(stats.c.interactions, 0)
    days_since_last = days_between(utc(ctx.now), stats.c.last_at)
    recency = case((stats.c.last_at.is_(None), 0.0),
                   else_=RECENCY_POINTS * (1 - days_since_last / (SCORE_WINDOW / timedelta(days=1))))
    frequency = FREQUENCY_POINTS_EACH * case((count > FREQUENCY_CAP, FREQUENCY_CAP), else_=count)
    responsiveness = case((count == 0, 0.0), else_=RESPONSIVENESS_POINTS * stats.c.responses / count)
    breadth = BREADTH_POINTS * func.coalesce(stats.c.kinds, 0) / len(INTERACTION_KINDS)
    # Each component once, for the sum and for the JSON; exact decimals until the score is rounded.
    points = computed_once(
        watched.add_columns(
            rounded_exactly(recency).label("recency"),
            frequency.label("frequency"),  # a whole number of points
            rounded_exactly(responsiveness).label("responsiveness"),
            rounded_exactly(breadth).label("breadth"),
            count.label("interactions"),
            rounded_exactly(days_since_last, 2).label("days_since_last"),
        )
        .outerjoin(stats, stats.c.contact_id == Contact.id)
    ).subquery("points")
    p = points.c
    return select(
        p.id,
        # A sum of one-decimal values has one decimal; rounding it again drops float noise.
        rounded(p.recency + p.frequency + p.responsiveness + p.breadth),
        json_from({name: p[name] for name in (*COMPONENTS, "interactions", "days_since_last")}),
        utc(ctx.now),
    )


def _lowest_key_contacts(ctx: CheckContext) -> Select[Any]:
    """This run's snapshots of key contacts, lowest score first (index lookups by contact and time)."""
    return (
        _watched_contacts(ctx, *KEY_CONTACT_ROLES)
        .add_columns(Contact.name, Contact.role, Contact.property_id, Property.address, _snapshot.score)
        .join(_snapshot, and_(_snapshot.contact_id == Contact.id, _snapshot.scored_at == ctx.now))
        .order_by(_snapshot.score, Contact.id)
        .limit(LOWEST_REPORTED)
    )


# --- cooling_relationships ---------------------------------------------------------------


@check("cooling_relationships", group=RELATIONSHIPS, schedule=HOURLY, description="Detect cooling relationships",
       after=("relationship_scores",))
def cooling_relationships(ctx: CheckContext) -> CheckResult:
    """A watched contact whose latest score is 10% or more below their previous one.

    medium; high for a buyer or seller, whose cooling can cost the deal
    itself. The two snapshots compared are the contact's latest two, so a
    relationship that keeps cooling is reported again each time it drops
    another 10%, and one that holds steady at its lower level stops being
    reported. A contact with a single snapshot has nothing to compare yet; a
    previous score of 0 cannot fall. The message says when the contact was
    last heard from, taken from the latest snapshot's components
    (`days_since_last`, counted from when it was scored); with none in the
    score's 30-day window it says so. Runs after relationship_scores, so it
    compares this cycle's scores. Statements: one count of the watched
    contacts, one query of the drops (each contact's two latest scores are
    read from the (contact_id, scored_at, id, score) index; the latest
    snapshot's components only for the drops).
    """
    session = session_of(ctx)
    population = _watched_contacts(ctx)
    scores = (
        population.add_columns(Contact.name, Contact.role, Contact.property_id, Property.address,
                               _nth_latest_snapshot(_snapshot.score, 0).label("score"),
                               _nth_latest_snapshot(_snapshot.score, 1).label("previous_score"))
        .offset(0)  # each lookup once per contact, before the comparison
        .subquery("scores")
    )
    latest = {column: _nth_latest_snapshot(getattr(_snapshot, column), 0, scores.c.id).label(column)
              for column in ("components", "scored_at")}
    rows = session.execute(
        select(scores, *latest.values())
        # Scores have one decimal, so an exact 10% drop is from a whole score, whose product with 0.9 is exact.
        .where(scores.c.previous_score > 0, scores.c.score <= scores.c.previous_score * (1 - COOLING_DROP))
        .order_by(scores.c.address, scores.c.name, scores.c.id)
    ).all()
    items = [_cooling_item(ctx.now, row) for row in rows]
    return CheckResult(items=items, metrics={"rows_examined": count_of(session, population), "actions_taken": 0})


def _nth_latest_snapshot(column: Any, n: int, contact_id: Any = Contact.id) -> Any:
    """`column` of a contact's n-th latest snapshot (0 = latest), correlated to the contact's id.

    A backward walk of (contact_id, scored_at, id, score) that stops after
    n + 1 entries; the score itself is read from the index.
    """
    return (
        select(column).where(_snapshot.contact_id == contact_id)
        .order_by(_snapshot.contact_id.desc(), _snapshot.scored_at.desc(), _snapshot.id.desc())
        .offset(n).limit(1)
        .scalar_subquery()
    )


def _cooling_item(now: datetime, row: Any) -> ActionItem:
    days_since_last = row.components.get("days_since_last")
    if days_since_last is None:
        heard = "Nothing from them in the last 30 days."
    else:
        heard = f"Last heard from {spoken_age(now - row.scored_at + timedelta(days=days_since_last))} ago."
    drop = (row.previous_score - row.score) / row.previous_score
    return ActionItem(
        subject=f"contact:{row.id}",
        priority=Priority.high if row.role in CLOSEST_ROLES else Priority.medium,
        message=(f"{_who(row)}, is cooling: their relationship score fell from {spoken_number(row.previous_score)}"
                 f" to {spoken_number(row.score)}. {heard}"),
        next_step=f"Call {row.name} to check in on {row.address}",
        affected=_contact_affected(row),
        data={"role": row.role, "previous_score": row.previous_score, "score": row.score,
              "drop": round(drop, 3), "days_since_last": days_since_last},
    )


# --- overdue_follow_ups ------------------------------------------------------------------


@check("overdue_follow_ups", group=RELATIONSHIPS, schedule=HOURLY, description="Flag overdue follow-ups")
def overdue_follow_ups(ctx: CheckContext) -> CheckResult:
    """Enabled follow_up tasks, pending or scheduled, whose scheduled_at is in the past → high, one item each.

    Due exactly now is not yet overdue (due_reminders delivers it now). The
    candidates, and who owns them under HEARTBEAT_AGENT_ID, are
    checks.scheduled's: the task's property, else its contact's property; a
    follow-up tied to neither is the agent's own errand and always shown.
    A follow-up on a property that is complete is still reported: the agent
    promised the call, and only completing or cancelling the task settles
    it. The item stays open (same subject, `task:<id>`) until the task is
    done, cancelled, disabled or moved to a later time. Statements: one.
    """
    tasks = open_tasks(ctx, ScheduledTask.task_type == "follow_up", ScheduledTask.scheduled_at < ctx.now)
    items = [_overdue_item(ctx.now, task) for task in tasks]
    return CheckResult(items=items, metrics={"rows_examined": len(tasks), "actions_taken": 0})


def _overdue_item(now: datetime, task: Any) -> ActionItem:
    affected = {"tasks": [task.id]}
    if task.contact_id is not None:
        affected["contacts"] = [task.contact_id]
    if task.property_id is not None:
        affected["properties"] = [task.property_id]
    return ActionItem(
        subject=f"task:{task.id}",
        priority=Priority.high,
        # The title is the agent's own words ("Follow up with Pat about the comps"): said as it is.
        message=f"{task_title(task)}{task_about(task)}: {spoken_age(now - task.scheduled_at)} overdue.",
        next_step=(f"Call {task.contact_name} now, or reschedule the follow-up" if task.contact_name
                   else "Do it now, or reschedule it"),
        affected=affected,
        data={"scheduled_at": task.scheduled_at.isoformat(),
              "hours_overdue": round((now - task.scheduled_at) / timedelta(hours=1), 1)},
    )


# --- contacts_needing_outreach -----------------------------------------------------------


@check("contacts_needing_outreach", group=RELATIONSHIPS, schedule=HOURLY,
       description="Identify key contacts needing outreach")
def contacts_needing_outreach(ctx: CheckContext) -> CheckResult:
    """Key contacts (buyer, seller, lender, lawyer, attorney) of open properties silent for 14 days → medium.

    Silent for 14 days: no interaction after now − 14 days (one exactly 14
    days ago has been followed by 14 days of silence). Silence is counted
    from when the contact was added, too: a contact created less than 14
    days ago is not reported, however quiet, because an agent does not chase
    someone added last week as a lapsed relationship.

    The message says when they were last heard from, looking 90 days back
    (for the reported contacts only): "20 days ago"; "never" when nothing
    was heard since they were added (added within those 90 days); otherwise
    "not in 90 days". Longest silent first. Statements: one count of the
    key contacts watched, one query of the silent ones with their last
    interaction.
    """
    session = session_of(ctx)
    cutoff = ctx.now - OUTREACH_AFTER
    population = _watched_contacts(ctx, *KEY_CONTACT_ROLES)
    silent = (
        population.add_columns(Contact.name, Contact.role, Contact.property_id, Contact.created_at, Property.address,
                               last_interaction(ctx.now - LAST_HEARD_WINDOW, ctx.now).label("last_heard_at"))
        .where(Contact.created_at <= cutoff, no_interaction(after=cutoff, until=ctx.now))
        .offset(0)
        .subquery("silent")
    )
    rows = session.execute(
        select(silent).order_by(func.coalesce(silent.c.last_heard_at, silent.c.created_at), silent.c.id)
    ).all()
    items = [_outreach_item(ctx.now, row) for row in rows]
    return CheckResult(items=items, metrics={"rows_examined": count_of(session, population), "actions_taken": 0})


def _outreach_item(now: datetime, row: Any) -> ActionItem:
    if row.last_heard_at is not None:
        heard = f"was last heard from {spoken_age(now - row.last_heard_at)} ago"
    elif row.created_at > now - LAST_HEARD_WINDOW:
        heard = "has never been heard from"
    else:
        heard = f"has not been heard from in {spoken_age(LAST_HEARD_WINDOW)}"
    return ActionItem(
        subject=f"contact:{row.id}",
        priority=Priority.medium,
        message=f"{_who(row)}, {heard}.",
        next_step=f"Call {row.name} about {row.address}",
        affected=_contact_affected(row),
        data={"role": row.role, "last_heard_at": row.last_heard_at.isoformat() if row.last_heard_at else None},
    )
