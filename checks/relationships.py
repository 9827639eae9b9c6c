"""Relationship health: is the agent keeping in touch with the people each open deal depends on?

The contacts watched are those of properties that are not complete (a closed
deal's lawyer is not a relationship to nurse), limited to HEARTBEAT_AGENT_ID's
portfolio when it is set. An interaction is domain.md's (checks.sql.interaction_totals):
a note on the contact's property naming them, a contract linked to them, an
offer they made as buyer. Interactions dated after `now` have not happened
yet and are ignored everywhere.

The name-in-note scan behind interactions is the expensive part: every check
that needs it bounds it in time — scores look 30 days back, outreach 14 days
(90 for the "last heard from" in its message, and only for the contacts it
reports) — and only over contacts of open properties. Scores match each new
note once and keep the matches (note_mentions), then total every contact's
interactions of the period in one pass (checks.sql.interaction_totals);
outreach only asks, per contact, whether there was one
(checks.sql.no_interaction), which stops at the first it finds. Each check
issues a fixed number of statements whatever the portfolio size, and writes
set-based: nothing is written row by row.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean, Column, ColumnElement, Float, Integer, MetaData, Select, Table, and_, case, cast, delete, exists,
    func, literal, null, or_, select, true, tuple_, union_all,
)

from checks.registry import HOURLY, RELATIONSHIPS, check
from checks.scheduled import open_tasks, task_about, task_title
from checks.schema import (
    KEY_CONTACT_ROLES, Contact, NoteMention, Property, PropertyNote, RelationshipScoreSnapshot, ScheduledTask,
    ScoredContact,
)
from checks.spoken import spoken_age, spoken_number
from checks.sql import (
    CONTRACT, NOTE, OFFER, by_owner_index, count_of, half_up, in_scope, interaction_totals, json_from,
    last_interaction, named_in_notes, no_interaction, open_property, seconds_between, session_of,
    temporary_table_as, utc,
)
from heartbeat_mcp.database import insert_with_conflicts, json_rows
from heartbeat_mcp.sqltypes import UTCDateTime
from heartbeat_mcp.task import ActionItem, CheckContext, CheckResult, Priority

SNAPSHOT_DAYS = 2
# The relationship score: points per component, and the window it is measured over.
SCORE_WINDOW = timedelta(days=30)
RECENCY_TENTHS = 400  # 40 points
FREQUENCY_POINTS_EACH, FREQUENCY_CAP = 3, 10  # 3 points per interaction, up to 10 interactions
RESPONSIVENESS_TENTHS = 200  # 20 points
BREADTH_TENTHS = 100  # 10 points
INTERACTION_KINDS = (NOTE, CONTRACT, OFFER)
COMPONENTS = ("recency", "frequency", "responsiveness", "breadth")
LOWEST_REPORTED = 10

COOLING_DROP = 0.10
CLOSEST_ROLES = ("buyer", "seller")

OUTREACH_AFTER = timedelta(days=14)
LAST_HEARD_WINDOW = timedelta(days=90)

# Recency loses a tenth of a point every 6,480 seconds: a whole number, so a quotient by it that ends in a half is
# exact.
_SECONDS_PER_RECENCY_TENTH = int(SCORE_WINDOW.total_seconds()) // RECENCY_TENTHS
_SECONDS_PER_HUNDREDTH_DAY = int(timedelta(days=1).total_seconds()) // 100  # days_since_last's precision

_snapshot = RelationshipScoreSnapshot
_scored = ScoredContact


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


# The first run matches every note of the last 31 days against its property's contacts (later runs only the new
# ones): at 100,000 properties that took 21 s alone and most of a 24 s first cycle on two cores, close enough to the
# default minute on a slower or busier host, and a run stopped short keeps nothing, so the next starts over.
@check("relationship_scores", group=RELATIONSHIPS, schedule=HOURLY, timeout_seconds=300.0,
       description="Score relationships with every active contact")
def relationship_scores(ctx: CheckContext) -> CheckResult:
    """Score every contact of an open property 0–100; keep a snapshot whenever a score changes.

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
    uses to say when the contact was last heard from.

    Snapshots are the history of each contact's score: one is written only
    when the score differs from the contact's latest snapshot (or the
    contact has none). An identical snapshot would carry nothing:
    cooling_relationships compares the latest score with the previous
    different one either way. The latest score, its snapshot and the score
    before it are also kept in scored_contacts, so every score is compared,
    and every drop found, without looking each contact's snapshots up.
    Snapshots are kept for SNAPSHOT_DAYS (two days; cooling only ever
    compares the last two), except that a contact's latest one is never let
    go — a score unchanged for two days still needs it to be compared with
    — unless the contact itself is gone. Snapshots name their contact
    without a foreign key: writing them takes no lock on the platform's
    contacts, every reader joins the contacts it watches, and those of a
    deleted contact go with the next expiry.

    Interactions are domain.md's (checks.sql.interaction_totals), with the
    notes naming each contact kept in note_mentions rather than searched
    for in every note of 30 days at each run (`_read_new_notes`).

    Recency decays by about 0.06 points an hour, so an hourly run changes
    most scores that have an interaction. Every score is computed once, into
    a temporary table of the run (`_run_scores`), and the changed ones are
    written from it by the database, never sent through Python
    (`_write_changed_scores`); the report reads it too.

    No action items: a low score alone is not something to act on —
    cooling_relationships and contacts_needing_outreach turn scores and
    silence into actions. The report carries the number scored and the
    lowest-scoring key contacts (buyers, sellers, lawyers, attorneys,
    lenders). Statements: one DELETE of expired snapshots; three to bring
    the mentions up to date; one CREATE TABLE … AS that scores every
    contact once; one read of the count, the lowest key contacts and the
    contacts whose notes must be read again; when there are some, three
    more to read them, one INSERT of just their scores and the read again;
    then one INSERT of the changed scores' snapshots, one UPDATE of
    scored_contacts and one DROP of the run's table. Nine to fourteen,
    whatever the portfolio's size.
    """
    session = session_of(ctx)
    session.execute(_expired_snapshots(ctx.now))
    newest = _read_new_notes(session, ctx.now)
    _score_into_run(session, ctx)
    rows = session.execute(_report_rows()).all()
    unmatched = [row.id for row in rows if row.unmatched]
    if unmatched:
        again = select(json_rows(session, "again", {"contact_id": Integer()}, [(c,) for c in unmatched]).c.contact_id)
        _read_notes_again(session, ctx.now, again, newest)
        _score_into_run(session, ctx, among=again)
        rows = session.execute(_report_rows()).all()
    _write_changed_scores(session, ctx.now)
    _run_scores.drop(session.connection())
    scored_count = next(row.examined for row in rows if row.id is None)
    lowest = sorted((row for row in rows if row.id is not None and not row.unmatched),
                    key=lambda row: (row.score, row.id))
    return CheckResult(
        metrics={"rows_examined": scored_count, "actions_taken": 0},
        data={
            "contacts_scored": scored_count,
            "lowest": [
                {"contact": r.id, "name": r.name, "role": r.role, "property": r.property_id, "address": r.address,
                 "score": r.score}
                for r in lowest
            ],
        },
    )


def _expired_snapshots(now: datetime) -> Any:
    """Snapshots older than SNAPSHOT_DAYS that a later one of their contact replaces, or whose contact is gone."""
    later = _snapshot.__table__.alias("later")
    return _snapshot.__table__.delete().where(
        _snapshot.scored_at < now - timedelta(days=SNAPSHOT_DAYS),
        or_(
            exists().where(later.c.contact_id == _snapshot.contact_id,
                           tuple_(later.c.scored_at, later.c.id) > tuple_(_snapshot.scored_at, _snapshot.id)),
            ~exists().where(Contact.id == _snapshot.contact_id),
        ),
    )


# --- the notes naming each contact ---------------------------------------------------------

# Mentions are kept a day longer than the score looks back, so a run a little behind the latest finds them all.
MENTIONS_KEPT = SCORE_WINDOW + timedelta(days=1)
# Notes written up to this long before the latest one read are read again: a note whose transaction committed
# after a run had read later notes has a smaller id than the newest read.
LATE_NOTES = timedelta(hours=1)


def _kept_period(now: datetime) -> ColumnElement[bool]:
    """A note of the last MENTIONS_KEPT: the only notes ever matched. No score counts an older one.

    A constant bound, so the planners see how few notes it leaves; SQLite
    must not read it from the created_at index, or it would read a month of
    notes wherever it is one condition among others.
    """
    return by_owner_index(PropertyNote.created_at) >= now - MENTIONS_KEPT


def _read_new_notes(session: Any, now: datetime) -> int:
    """Bring note_mentions up to date with the notes written since the last run; returns the newest note read before.

    note_mentions holds, for the notes of the last MENTIONS_KEPT, which
    contacts of their property each one names (domain.md's rule, through
    checks.sql.named_in_notes): each note is matched once, when it is new,
    instead of 30 days of notes at every run. Here mentions older than
    MENTIONS_KEPT go, and the notes added since the newest one read (by id)
    — with those written since LATE_NOTES before the latest one read (by
    time, up to now), of the last MENTIONS_KEPT — are matched against
    every contact of their property; a mention already known is skipped.
    Notes are added and deleted, never edited: what a note says, when it
    was written and its source are read once; a deleted note takes its
    mentions along (foreign key). Mentions of a deleted contact are never
    read (every reader joins the contacts it watches) and go with age.
    Contacts whose name or property changed, and new ones, have their
    notes read again (`_read_notes_again`). Statements: the newest and
    latest note read, one DELETE, one INSERT.
    """
    latest_read = (select(NoteMention.mentioned_at).where(NoteMention.mentioned_at <= now)
                   .order_by(NoteMention.mentioned_at.desc()).limit(1).scalar_subquery())
    newest, latest = session.execute(
        select(func.coalesce(select(func.max(NoteMention.note_id)).scalar_subquery(), 0), latest_read)).one()
    unread = PropertyNote.id > newest
    if latest is not None:
        unread = or_(unread, PropertyNote.created_at >= latest - LATE_NOTES)
    # Constants, so the planners see how few notes they leave (each condition has its index). Without the period a
    # first run would match every note ever written (2 million at 100,000 properties) for the next run to delete
    # most of the mentions.
    unread = and_(unread, _kept_period(now))
    session.execute(delete(NoteMention).where(NoteMention.mentioned_at < now - MENTIONS_KEPT))
    # Only the contacts of the properties these notes are on, looked up by property: not every contact read to be
    # hashed.
    on_their_properties = select(Contact.id).where(Contact.property_id.in_(select(PropertyNote.property_id)
                                                                          .where(unread)))
    _insert_mentions(session, named_in_notes(on_their_properties, unread))
    return int(newest)


def _read_notes_again(session: Any, now: datetime, contacts: Select[Any], newest: int) -> None:
    """Match the notes read before this run (up to `newest`) against `contacts` again, and record their names.

    For contacts that are new, renamed or moved to another property (their
    scored_contacts row says otherwise): their earlier mentions go, the
    notes of MENTIONS_KEPT on their property are matched under their name
    as it is now, and scored_contacts records it. A new row's scores are
    those of the contact's latest two snapshots (none for a contact never
    scored); a renamed or moved contact keeps theirs. Statements: one
    upsert, one DELETE, one INSERT.
    """
    recorded = select(Contact.id, Contact.property_id, func.lower(Contact.name),
                      _nth_latest_snapshot(_snapshot.score, 0),
                      _nth_latest_snapshot(_snapshot.score, 1)).where(Contact.id.in_(contacts))
    upsert = insert_with_conflicts(session, _scored.__table__).from_select(
        ["contact_id", "property_id", "name", "score", "previous_score"], recorded)
    session.execute(upsert.on_conflict_do_update(
        index_elements=["contact_id"], set_={"property_id": upsert.excluded.property_id, "name": upsert.excluded.name}))
    session.execute(delete(NoteMention).where(NoteMention.contact_id.in_(contacts), NoteMention.note_id <= newest))
    _insert_mentions(session, named_in_notes(select(Contact.id).where(Contact.id.in_(contacts)),
                                             _kept_period(now), PropertyNote.id <= newest))


def _insert_mentions(session: Any, found: Select[Any]) -> None:
    """INSERT the mentions `found` (named_in_notes' rows) that are not known yet."""
    mentions = found.subquery("found")
    session.execute(
        insert_with_conflicts(session, NoteMention.__table__)
        .from_select(["note_id", "contact_id", "mentioned_at", "is_response"],
                     select(mentions.c.note_id, mentions.c.contact_id, mentions.c.at, mentions.c.is_response)
                     # SQLite would read ON CONFLICT as a join's ON without a WHERE before it.
                     .where(true()))
        .on_conflict_do_nothing(index_elements=["note_id", "contact_id"])
    )


# --- scores ---------------------------------------------------------------------------------

# This run's scores (`_scores`' columns), computed once and then written, compared and reported from: a temporary
# table that the run creates and drops.
_run_scores = Table(
    "relationship_run_scores", MetaData(),
    Column("contact_id", Integer), Column("key", Boolean), Column("matched", Boolean),
    Column("previous", Float), Column("score", Float),
    *(Column(name, Float) for name in ("recency", "responsiveness", "breadth")),
    Column("frequency", Integer), Column("interactions", Integer), Column("last_at", UTCDateTime),
)


def _score_into_run(session: Any, ctx: CheckContext, among: Select[Any] | None = None) -> None:
    """Create the run's table with every watched contact's score; or add those of `among`, when given."""
    scores = _scores(ctx, among)
    if among is None:
        session.execute(temporary_table_as(_run_scores.name, scores))
    else:
        session.execute(_run_scores.insert().from_select([column.name for column in scores.selected_columns],
                                                         scores))


def _scores(ctx: CheckContext, among: Select[Any] | None) -> Select[Any]:
    """Every watched contact (of `among`, when given) with this run's score, its points and their latest score so far.

    Columns: those of the run's table: contact_id, key (a key contact),
    matched (their mentions were found under their name and property as
    they are now), previous, score, the four points, interactions and
    last_at (the latest interaction).
    """
    since = ctx.now - SCORE_WINDOW
    watched = _watched_contacts(ctx)
    # Read along (contact_id, mentioned_at, is_response), already in contact order, on SQLite too.
    mentioned_at = by_owner_index(NoteMention.mentioned_at)
    mentions = (select(NoteMention.contact_id, NoteMention.mentioned_at.label("at"), NoteMention.is_response)
                .where(mentioned_at >= since, mentioned_at <= ctx.now))
    if among is not None:
        watched = watched.where(Contact.id.in_(among))
        mentions = mentions.where(NoteMention.contact_id.in_(among))
    matched = and_(_scored.property_id == Contact.property_id, _scored.name == func.lower(Contact.name))
    # OFFSET 0: each total once per contact, however often the points use it (on SQLite too).
    totals = interaction_totals(
        watched.add_columns(Contact.role, _scored.score.label("previous"),
                            case((matched, True), else_=False).label("matched"))
        .outerjoin(_scored, _scored.contact_id == Contact.id),
        since=since, until=ctx.now, mentions=mentions.subquery("mentions"), among=among,
    ).offset(0).subquery("totals")
    t = totals.c
    count = t.interactions
    # Each component in tenths of a point: a whole number, rounded once (halves up) from a quotient that is exact
    # whenever it ends in a half. Tenths add up exactly, and the score is their sum over ten, the same float as
    # the one-decimal value. No float goes through a decimal: on PostgreSQL each conversion goes through text,
    # and over every watched contact those took a third of the scoring read.
    # Divisors are floats: SQLAlchemy would make an integer one a numeric.
    quiet_tenths = seconds_between(utc(ctx.now), t.last_at) / float(_SECONDS_PER_RECENCY_TENTH)
    recency = case((t.last_at.is_(None), 0), else_=half_up(RECENCY_TENTHS - quiet_tenths))
    frequency = FREQUENCY_POINTS_EACH * case((count > FREQUENCY_CAP, FREQUENCY_CAP), else_=count)
    responsiveness = case((count == 0, 0), else_=half_up(t.responses * RESPONSIVENESS_TENTHS / cast(count, Float)))
    # The kinds used take four values: their tenths are worked out here.
    breadth = case({kinds: math.floor(BREADTH_TENTHS * kinds / len(INTERACTION_KINDS) + 0.5)
                    for kinds in range(len(INTERACTION_KINDS) + 1)}, value=t.kinds)
    # Each component once, for the sum and for the snapshot (frequency in whole points).
    points = (select(
        t.id, t.role.in_(KEY_CONTACT_ROLES).label("key"), t.matched, t.previous,
        recency.label("recency"), frequency.label("frequency"), responsiveness.label("responsiveness"),
        breadth.label("breadth"), count.label("interactions"), t.last_at,
    ).offset(0).subquery("points"))
    p = points.c

    def in_points(tenths: Any) -> Any:
        return tenths / 10.0

    return select(
        p.id.label("contact_id"), p.key, p.matched, p.previous,
        in_points(p.recency + 10 * p.frequency + p.responsiveness + p.breadth).label("score"),
        in_points(p.recency).label("recency"), in_points(p.responsiveness).label("responsiveness"),
        in_points(p.breadth).label("breadth"), p.frequency, p.interactions, p.last_at,
    )


def _report_rows() -> Any:
    """From the run's table: the lowest-scoring key contacts with their names, the contacts whose notes must be read
    again (`unmatched`), and a row with no id and the count of contacts scored (`examined`)."""
    r = _run_scores.c
    lowest = (select(r.contact_id, r.score).where(r.key, r.matched).order_by(r.score, r.contact_id)
              .limit(LOWEST_REPORTED).subquery("lowest_scores"))
    return union_all(
        select(lowest.c.contact_id.label("id"), lowest.c.score, Contact.name, Contact.role, Contact.property_id,
               Property.address, literal(False).label("unmatched"), cast(null(), Integer).label("examined"))
        .join(Contact, Contact.id == lowest.c.contact_id).join(Property, Property.id == Contact.property_id),
        select(r.contact_id, *(null() for _ in range(5)), literal(True), null()).where(~r.matched),
        select(*(null() for _ in range(6)), literal(False), func.count()).where(r.matched),
    )


def _write_changed_scores(session: Any, now: datetime) -> None:
    """Write the run's scores that differ from their contact's latest: a snapshot each, and scored_contacts.

    Straight from the run's table, by the database: an hourly run changes
    most scores, and none goes through Python. Statements: one INSERT, one
    UPDATE.
    """
    r = _run_scores.c
    changed = and_(r.matched, r.previous.is_distinct_from(r.score))
    components = {
        "recency": r.recency, "frequency": cast(r.frequency, Float), "responsiveness": r.responsiveness,
        "breadth": r.breadth, "interactions": r.interactions,
        "days_since_last": half_up(seconds_between(utc(now), r.last_at) / float(_SECONDS_PER_HUNDREDTH_DAY)) / 100.0,
    }
    session.execute(_snapshot.__table__.insert().from_select(
        ["contact_id", "score", "components", "scored_at"],
        select(r.contact_id, r.score, json_from(components), utc(now)).where(changed),
    ))
    latest = _scored.__table__
    session.execute(
        latest.update().where(r.contact_id == latest.c.contact_id, changed)
        .values(previous_score=latest.c.score, score=r.score)
    )


# --- cooling_relationships ---------------------------------------------------------------


@check("cooling_relationships", group=RELATIONSHIPS, schedule=HOURLY, description="Detect cooling relationships",
       after=("relationship_scores",), read_only=True)
def cooling_relationships(ctx: CheckContext) -> CheckResult:
    """A watched contact whose latest score is 10% or more below their previous one.

    medium; high for a buyer or seller, whose cooling can cost the deal
    itself. The two snapshots compared are the contact's latest two, and a
    snapshot is written only when a score changes: the score now against the
    one it had before. A relationship that keeps cooling is reported again
    each time it drops another 10%; one that moves on (most scores change
    within a few hours, as the last interaction ages) stops being reported,
    and one that holds at its lower level is reported until its previous
    snapshot is two days old and let go. A contact with a single snapshot
    has nothing to compare yet; a previous score of 0 cannot fall. The
    message says when the contact was last heard from, taken from the latest
    snapshot's components (`days_since_last`, counted from when it was
    scored); with none in the score's 30-day window it says so. Runs after
    relationship_scores, so it compares this cycle's scores. Statements: one
    count of the watched contacts, one query of the drops: the contacts
    whose scored_contacts row (latest and previous score, kept by
    relationship_scores) shows one, each then read from its two latest
    snapshots through the (contact_id, scored_at, id, score) index — the
    previous one may have been let go — with the latest one's days_since_last.
    """
    session = session_of(ctx)
    population = _watched_contacts(ctx)
    # OFFSET 0: each lookup once per contact shown a drop.
    shown = (
        population.add_columns(Contact.name, Contact.role, Contact.property_id, Property.address,
                               *(_nth_latest_snapshot(column, 0).label(name) for name, column in (
                                   ("score", _snapshot.score), ("scored_at", _snapshot.scored_at),
                                   # The one component the message needs, read out in SQL: not every
                                   # snapshot's components decoded in Python.
                                   ("days_since_last", _snapshot.components["days_since_last"].as_float()))),
                               _nth_latest_snapshot(_snapshot.score, 1).label("previous_score"))
        .join(_scored, _scored.contact_id == Contact.id)
        .where(_dropped(_scored.previous_score, _scored.score))
        .offset(0)
        .subquery("shown")
    )
    rows = session.execute(
        select(shown).where(_dropped(shown.c.previous_score, shown.c.score))
        .order_by(shown.c.address, shown.c.name, shown.c.id)
    ).all()
    items = [_cooling_item(ctx.now, row) for row in rows]
    return CheckResult(items=items, metrics={"rows_examined": count_of(session, population), "actions_taken": 0})


def _dropped(previous: Any, score: Any) -> ColumnElement[bool]:
    """A score 10% or more below a previous one above 0.

    Scores have one decimal, so an exact 10% drop is from a whole score, whose product with 0.9 is exact.
    """
    return and_(previous > 0, score <= previous * (1 - COOLING_DROP))


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
    days_since_last = row.days_since_last
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


@check("overdue_follow_ups", read_only=True, group=RELATIONSHIPS, schedule=HOURLY,
       description="Flag overdue follow-ups")
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


@check("contacts_needing_outreach", read_only=True, group=RELATIONSHIPS, schedule=HOURLY,
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
