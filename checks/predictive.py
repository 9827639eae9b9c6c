"""Predictive insights: how good each open deal is, how likely it is to close, and whom to call first.

Four hourly checks over the properties that are not complete (limited to
HEARTBEAT_AGENT_ID's portfolio when it is set). They all read the same facts
about a deal — its Zestimate, its required contracts, its key contacts, its
owner research, its activity, its offers — from `_FACTS`, so a rule that two
checks share is written once. Facts come from one grouped pass per table
(for the busy activity tables, notes and conversations: over the weeks the
rule looks at), joined back to the deals by property: at portfolio scale
that is far cheaper than a lookup per deal and fact. The scores are
computed in SQL from those facts; Python only words the results. Each check
issues a fixed number of statements whatever the portfolio size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement, Float, Integer, Select, String, Subquery, and_, case, cast, exists, func, literal, or_, select,
    union_all, update,
)

from checks.market import _record_first_observations
from checks.portfolio import CLOSED_CONTRACT_STATUSES, DEADLINE_WARNING, UNSIGNED_AFTER
from checks.registry import HOURLY, PREDICTIVE, check
from checks.scheduled import OPEN_STATUSES
from checks.schema import (
    KEY_CONTACT_ROLES, SCORE_GRADES, UNSIGNED_CONTRACT_STATUSES, Contact, Contract, Offer, Property, PropertyNote,
    PropertySnapshot, ScheduledTask, SkipTrace, ZillowEnrichment,
)
from checks.spoken import spoken_days
from checks.sql import (
    activity_tallies, days_between, in_scope, json_list_length,
    last_activity, latest_event, open_property, own_activity, quiet_before, rounded, session_of, utc,
)
from heartbeat_mcp.database import json_rows
from heartbeat_mcp.report import spoken_list
from heartbeat_mcp.task import ActionItem, CheckContext, CheckResult, Priority

WEEK = timedelta(days=7)
UNTOUCHED_FOR = timedelta(hours=24)
# How many re-scored properties a run lists in its data (its metrics count them all).
LISTED = 50

# --- the facts about a deal ----------------------------------------------------------


def _any(*conditions: ColumnElement[bool]) -> ColumnElement[int]:
    """1 when some row meets every condition, 0 when none does; NULL without rows (an aggregate)."""
    return func.max(case((and_(*conditions), 1), else_=0))


def _tally(*conditions: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows meet every condition; NULL without rows (an aggregate)."""
    return func.sum(case((and_(*conditions), 1), else_=0))


def _latest_zestimates() -> Subquery:
    """Each property's latest zillow_enrichments row (by created_at, then id): property_id, zestimate."""
    ranked = select(
        ZillowEnrichment.property_id, ZillowEnrichment.zestimate,
        func.row_number().over(partition_by=ZillowEnrichment.property_id,
                               order_by=(ZillowEnrichment.created_at.desc(), ZillowEnrichment.id.desc()))
        .label("nth"),
    ).subquery("ranked_zestimates")
    return select(ranked.c.property_id, ranked.c.zestimate).where(ranked.c.nth == 1).subquery("zestimates")


# Where facts are read from: rows with a property_id column, given `now`.
_SOURCES: dict[str, Callable[[datetime], Any]] = {
    "contracts": lambda now: Contract.__table__,
    "contacts": lambda now: Contact.__table__,
    "skip_traces": lambda now: SkipTrace.__table__,
    "offers": lambda now: Offer.__table__,
    "zestimates": lambda now: _latest_zestimates(),
}
_REQUIRED = Contract.is_required.is_(True)

# Each fact: its source, an aggregate over the property's rows there, and its value from that aggregate (NULL when
# the property has no rows there).
_FACTS: dict[str, tuple[str, Callable[[Any, datetime], Any], Callable[[Any], ColumnElement[Any]]]] = {
    "zestimate": ("zestimates", lambda rows, now: func.max(rows.c.zestimate), lambda v: v),
    "required": ("contracts", lambda rows, now: _tally(_REQUIRED), lambda v: func.coalesce(v, 0)),
    "signed": ("contracts", lambda rows, now: _tally(_REQUIRED, Contract.status == "completed"),
               lambda v: func.coalesce(v, 0)),
    "key_contact": ("contacts", lambda rows, now: _any(Contact.role.in_(KEY_CONTACT_ROLES)),
                    lambda v: func.coalesce(v, 0) > 0),
    "skip_traced": ("skip_traces", lambda rows, now: func.count(), lambda v: func.coalesce(v, 0) > 0),
    "owner_phone": ("skip_traces", lambda rows, now: _any(json_list_length(SkipTrace.phone_numbers) > 0),
                    lambda v: func.coalesce(v, 0) > 0),
    "owner_email": ("skip_traces", lambda rows, now: _any(json_list_length(SkipTrace.emails) > 0),
                    lambda v: func.coalesce(v, 0) > 0),
    "live_offer": ("offers", lambda rows, now: _any(Offer.status.in_(("accepted", "submitted"))),
                   lambda v: func.coalesce(v, 0) > 0),
    "rejected_offers": ("offers", lambda rows, now: _tally(Offer.status == "rejected"), lambda v: func.coalesce(v, 0)),
    "deadline_close": ("contracts",
                       lambda rows, now: _any(_REQUIRED, Contract.status.not_in(CLOSED_CONTRACT_STATUSES),
                                              Contract.required_by_date <= now + DEADLINE_WARNING),
                       lambda v: func.coalesce(v, 0) > 0),
    "unsigned_too_long": ("contracts",
                          lambda rows, now: _any(_REQUIRED, Contract.status.in_(UNSIGNED_CONTRACT_STATUSES),
                                                 Contract.created_at < now - UNSIGNED_AFTER),
                          lambda v: func.coalesce(v, 0) > 0),
    "buyer": ("contacts", lambda rows, now: _any(Contact.role == "buyer"), lambda v: func.coalesce(v, 0) > 0),
    "latest_contract_event": ("contracts", lambda rows, now: latest_event("contracts"), lambda v: v),
    "latest_offer_event": ("offers", lambda rows, now: latest_event("offers"), lambda v: v),
}


# Activity facts: how far back the rule looks, which of the property's events count (by their time), and the
# fact from that count.
_ACTIVITY_FACTS: dict[str, tuple[timedelta, Callable[[datetime], Callable[[Any], Any]], Callable[[Any], Any]]] = {
    "activity_this_week": (2 * WEEK, lambda now: lambda at: at >= utc(now - WEEK), lambda count: count),
    "activity_week_before": (2 * WEEK, lambda now: lambda at: at < utc(now - WEEK), lambda count: count),
}


def _follow_ups_overdue(now: datetime) -> Any:
    """Ids of the properties with an overdue follow-up: enabled, pending or scheduled, scheduled_at past.

    On the property itself or on one of its contacts (a task may name
    both, and then counts for each).
    """
    overdue = and_(ScheduledTask.task_type == "follow_up", ScheduledTask.enabled.is_(True),
                   ScheduledTask.status.in_(OPEN_STATUSES), ScheduledTask.scheduled_at < now)
    return union_all(
        select(ScheduledTask.property_id).where(overdue, ScheduledTask.property_id.is_not(None)),
        select(Contact.property_id).join(ScheduledTask, ScheduledTask.contact_id == Contact.id).where(overdue),
    )


# Facts about the property itself, given the values of the facts they build on.
_DERIVED: dict[str, Callable[[dict[str, Any], datetime], ColumnElement[Any]]] = {
    # Contracts and offers are grouped by property anyway: their latest times come from those passes.
    "last_activity": lambda facts, now: last_activity(known={"contracts": facts["latest_contract_event"],
                                                             "offers": facts["latest_offer_event"]}),
    "follow_up_overdue": lambda facts, now: Property.id.in_(_follow_ups_overdue(now)),
    # Whether anything happened, not how much: most properties are ruled in by their first lookup (their notes),
    # where counting would group every event of the week.
    "active_this_week": lambda facts, now: ~quiet_before(utc(now - WEEK)),
    "no_buyer_while_waiting": lambda facts, now: and_(Property.status == "waiting_for_contracts", ~facts["buyer"]),
}
_BUILDS_ON = {"no_buyer_while_waiting": ("buyer",), "last_activity": ("latest_contract_event", "latest_offer_event")}


def _read_facts(now: datetime, names: list[str], among: Select[Any] | None) -> tuple[dict[str, Any], list[Any]]:
    """The value of each named fact (and of those they build on), and the grouped passes to join for them.

    One grouped pass per table: the facts of a source together, and the
    activity counts of a table the facts read anyway (contracts, offers)
    in the same pass; the busy activity tables (notes, conversations) in a
    pass of their own over the period. Limited to the properties of `among`
    when given.
    """
    base = sorted({needed for name in names for needed in _BUILDS_ON.get(name, ())} - set(names))
    # Per pass: what it reads, the rows it keeps, and its aggregates by name.
    passes: dict[str, tuple[Any, list[ColumnElement[bool]], dict[str, Any]]] = {}
    facts: list[str] = []
    by_period: dict[timedelta, list[str]] = {}
    for name in [*base, *names]:
        if name in _FACTS:
            source = _FACTS[name][0]
            rows = passes.setdefault(source, (_SOURCES[source](now), [], {}))[0]
            passes[source][2][name] = _FACTS[name][1](rows, now)
            facts.append(name)
        elif name in _ACTIVITY_FACTS:
            by_period.setdefault(_ACTIVITY_FACTS[name][0], []).append(name)
    # Per activity fact: the passes and columns holding its count, and the property's own creation.
    tallied: dict[str, tuple[list[tuple[str, str]], Any]] = {}
    for period, members in by_period.items():
        since = utc(now - period)
        conditions = {name: _ACTIVITY_FACTS[name][1](now) for name in members}
        for tally in activity_tallies(since, conditions):
            table = tally.owner.table.name
            if table not in passes or passes[table][1]:
                table = f"activity_{period.days}_days_{table}"
                passes[table] = (tally.owner.table, [tally.in_period], {})
            for name, count in tally.counts.items():
                passes[table][2][name] = count
                tallied.setdefault(name, ([], own_activity(since, conditions[name])))[0].append((table, name))
    joins = {}
    for label, (rows, where, aggregates) in passes.items():
        owner = rows.c.property_id
        joins[label] = (select(owner, *(aggregate.label(name) for name, aggregate in aggregates.items()))
                        .select_from(rows).where(*where, *([owner.in_(among)] if among is not None else []))
                        .group_by(owner).subquery(f"{label}_facts"))
    values: dict[str, Any] = {name: _FACTS[name][2](joins[_FACTS[name][0]].c[name]) for name in facts}
    for name, (columns, own) in tallied.items():
        count = sum((func.coalesce(joins[label].c[column], 0) for label, column in columns), own)
        values[name] = _ACTIVITY_FACTS[name][2](count)
    values.update({name: _DERIVED[name](values, now) for name in names if name in _DERIVED})
    return values, list(joins.values())


def _open_deals(ctx: CheckContext, facts: Iterable[str], *where: ColumnElement[bool],
                among: Select[Any] | None = None) -> Subquery:
    """One row per open property of the agent (of `among`, when given): its own columns and the named facts.

    The facts every check weighs are defined once (`_FACTS`): "required"
    contracts count whatever their status; only `completed` counts as
    signed (a cancelled required contract still has to be replaced), as in
    pipeline_advancement. The Zestimate is the latest zillow_enrichments
    row's. The owner's phone and email may come from different skip traces:
    what matters is that the agent can reach them. Activity is domain.md's,
    read for the weeks the rule looks at.

    Each source is read in one grouped pass (one row per property, every
    fact of that source at once) and joined back by property_id: far less
    work than a lookup per deal and fact. `among` (property ids) is for a
    handful of deals: each pass then reads only their rows, through the
    property_id indexes.

    OFFSET 0 keeps the databases from inlining this subquery into the
    formulas built on it: inlined, every mention of a fact computed per row
    would be one more evaluation of it.
    """
    names = list(facts)
    values, joins = _read_facts(ctx.now, names, among)
    query = select(Property.id, Property.address, Property.status, Property.price, Property.deal_score,
                   Property.score_grade, *(values[name].label(name) for name in names))
    for grouped in joins:
        query = query.outerjoin(grouped, grouped.c.property_id == Property.id)
    if among is not None:
        query = query.where(Property.id.in_(among))
    return in_scope(query.where(open_property(), *where).offset(0), ctx).subquery("deal")


# --- rescore_properties --------------------------------------------------------------

MARKET_POINTS = 40.0
# A price this far under the Zestimate earns all market points; as far over it, none.
MARKET_SPREAD = 0.10
SIGNED_POINTS = 20.0
KEY_CONTACT_POINTS = 10.0
SKIP_TRACE_POINTS = 10.0
ENGAGEMENT_POINTS = 20.0
_SCORE_FACTS = ("zestimate", "required", "signed", "key_contact", "skip_traced", "active_this_week")


def _deal_score(deal: Subquery) -> ColumnElement[float]:
    """The deal score of `rescore_properties`' docstring, from a row of `_open_deals(…, _SCORE_FACTS)`."""
    c = deal.c
    market = MARKET_POINTS / 2 * (1 + (c.zestimate - c.price) / c.price / MARKET_SPREAD)
    return rounded(
        case((or_(c.zestimate.is_(None), c.price <= 0), 0.0), (market >= MARKET_POINTS, MARKET_POINTS),
             (market <= 0, 0.0), else_=market)
        + case((c.required > 0, SIGNED_POINTS * cast(c.signed, Float) / c.required), else_=0.0)
        + case((c.key_contact, KEY_CONTACT_POINTS), else_=0.0)
        + case((c.skip_traced, SKIP_TRACE_POINTS), else_=0.0)
        + case((c.active_this_week, ENGAGEMENT_POINTS), else_=0.0)
    )


def _grade(score: Any) -> ColumnElement[str]:
    """schema.score_grade in SQL: the first grade whose floor the score reaches."""
    *graded, (lowest, _) = SCORE_GRADES
    return case(*((score >= floor, grade) for grade, floor in graded), else_=lowest)


@check("rescore_properties", group=PREDICTIVE, schedule=HOURLY, description="Re-score every active property")
def rescore_properties(ctx: CheckContext) -> CheckResult:
    """Recompute deal_score (0–100) and score_grade of every property not complete (autonomous action).

    Weights (points, summed and rounded to one decimal):
    - market, 0–40: the price against the latest Zestimate. Priced at the
      Zestimate → 20; each percent under it adds 2, each percent over takes
      2 away, so 10% under → 40 and 10% over → 0 (clamped). No Zestimate
      (not enriched, or a null one) → 0: nothing says the price is good.
    - readiness, 0–40: 20 × the share of required contracts signed
      (completed; none required → 0), 10 for a key contact (buyer, seller,
      lawyer, attorney, lender), 10 for a skip trace on file.
    - engagement, 0–20: 20 when the property had activity (domain.md's, at
      or after now − 7 days), else 0. A step rather than a decay, so a
      quiet hour does not rewrite every score.
    Market and readiness weigh most because they are what a deal closes
    on; engagement says the agent is on it. Grades: A ≥ 80, B ≥ 60, C ≥ 40,
    D ≥ 20, else F, from the rounded score.

    One read computes every score and returns only the properties whose
    score or grade differs (and the count of all), then one UPDATE … FROM
    those values, sent back, touches only rows that still differ: a re-run
    writes nothing, and of two concurrent runs the second finds (after the
    first's row locks) nothing left to change. Reading first lets
    PostgreSQL plan the heavy part as a query (in parallel where it can),
    and the write joins a few rows instead of the whole portfolio.
    updated_at is not touched: it means a status change. No action items:
    the scores feed closing_probabilities, follow_up_queue and
    high_score_no_action. Statements: one read, then the UPDATE when a
    score or grade changed.
    """
    session = session_of(ctx)
    deal = _open_deals(ctx, _SCORE_FACTS)
    # OFFSET 0: the score is computed once per property, not again for the grade and for each comparison.
    scored = select(deal.c.id, deal.c.deal_score, deal.c.score_grade, _deal_score(deal).label("score")
                    ).offset(0).subquery("scored")
    graded = select(scored, _grade(scored.c.score).label("grade"), func.count().over().label("examined"),
                    func.min(scored.c.id).over().label("first_id")).subquery("graded")
    # Only the properties whose score or grade changed come back (and one more, for the count).
    differs = or_(graded.c.deal_score.is_distinct_from(graded.c.score),
                  graded.c.score_grade.is_distinct_from(graded.c.grade))
    rows = session.execute(
        select(graded.c.id, graded.c.score, graded.c.grade, graded.c.examined, differs.label("changed"))
        .where(or_(differs, graded.c.id == graded.c.first_id))
    ).all()
    changed = [(row.id, row.score, row.grade) for row in rows if row.changed]
    rescored: list[Any] = []
    if changed:
        # The values just computed, sent back rather than computed again; rounded again, as computed.
        written = json_rows(session, "written", {"property_id": Integer(), "score": Float(), "grade": String()},
                            changed)
        score = rounded(written.c.score)
        rescored = session.execute(
            update(Property)
            .where(Property.id == written.c.property_id,
                   or_(Property.deal_score.is_distinct_from(score),
                       Property.score_grade.is_distinct_from(written.c.grade)))
            .values(deal_score=score, score_grade=written.c.grade)
            .returning(Property.id, Property.deal_score, Property.score_grade)
            .execution_options(synchronize_session=False)
        ).all()
    rescored.sort()
    return CheckResult(
        metrics={"rows_examined": rows[0].examined if rows else 0, "actions_taken": len(rescored)},
        data={"rescored": [{"property": pid, "score": score, "grade": grade}
                           for pid, score, grade in rescored[:LISTED]]},
    )


# --- closing probability: one formula for closing_probabilities and deals_needing_attention

START = 50.0
ALARM = 40.0
BIG_DROP = 15.0
_CLOSING_FACTS = ("required", "signed", "key_contact", "skip_traced", "owner_phone", "owner_email",
                  "activity_this_week", "activity_week_before", "live_offer", "rejected_offers")
FACTORS = ("deal_score", "contracts", "key_contact", "skip_trace", "activity", "offers")


def _closing_points(deal: Subquery) -> dict[str, ColumnElement[float]]:
    """Each factor's contribution to the closing probability, from a row of `_open_deals(…, _CLOSING_FACTS)`."""
    c = deal.c
    return {
        "deal_score": case((c.deal_score.is_(None), 0.0), else_=c.deal_score / 100 * 35 - 17.5),
        "contracts": case((c.required > 0, cast(c.signed, Float) / c.required * 25 - 12.5), else_=0.0),
        "key_contact": case((c.key_contact, 7.5), else_=-7.5),
        "skip_trace": case((and_(c.owner_phone, c.owner_email), 5.0), (~c.skip_traced, -5.0), else_=0.0),
        "activity": case((c.activity_this_week * 2 > c.activity_week_before * 3, 5.0),
                         (c.activity_this_week + c.activity_week_before == 0, -5.0), else_=0.0),
        "offers": case((c.live_offer, 5.0), (c.rejected_offers > 2, -5.0), else_=0.0),
    }


def _outlook(ctx: CheckContext, among: Select[Any] | None = None) -> Subquery:
    """Per open property (of `among`): the facts, each factor's points and the closing probability (rounded to 0.1)."""
    deal = _open_deals(ctx, _CLOSING_FACTS, among=among)
    points = _closing_points(deal)
    total = sum(points.values(), literal(START))
    probability = rounded(case((total < 0, 0.0), (total > 100, 100.0), else_=total))
    return select(
        deal.c.id, deal.c.address, deal.c.deal_score, deal.c.required, deal.c.signed, deal.c.rejected_offers,
        *(points[name].label(f"{name}_points") for name in FACTORS), probability.label("probability"),
    ).subquery("outlook")


def _contributions(row: Any) -> dict[str, float]:
    return {name: round(getattr(row, f"{name}_points"), 2) for name in FACTORS}


def _held_back_by(row: Any) -> list[tuple[str, float, str]]:
    """The factors that pull the probability down, worst first: (factor, points, in words)."""
    words = {
        "deal_score": f"a deal score of only {round(row.deal_score or 0)}",
        "contracts": ("no required contract signed" if not row.signed
                      else f"only {row.signed} of {row.required} required contracts signed"),
        "key_contact": "no buyer, seller, lawyer or lender on file",
        "skip_trace": "no skip trace on the owner",
        "activity": "no activity in two weeks",
        "offers": f"{row.rejected_offers} offers rejected",
    }
    negative = [(name, points, words[name]) for name, points in _contributions(row).items() if points < 0]
    return sorted(negative, key=lambda factor: factor[1])


NEXT_STEPS = {
    "contracts": "Get the required contracts signed",
    "key_contact": "Add the buyer and the seller to the property",
    "deal_score": "Review the price against the market with the seller",
    "activity": "Call the seller and get the deal moving again",
    "skip_trace": "Run a skip trace to reach the owner",
    "offers": "Talk with the seller about the rejected offers and the price",
}


def _why(reasons: list[tuple[str, float, str]]) -> str:
    return f" Holding it back: {spoken_list([words for _, _, words in reasons])}." if reasons else ""


def _percent(probability: float) -> str:
    return f"{round(probability, 1):g} percent"


@check("closing_probabilities", group=PREDICTIVE, schedule=HOURLY, description="Update closing probabilities",
       after=("rescore_properties",))
def closing_probabilities(ctx: CheckContext) -> CheckResult:
    """Estimate each open deal's chance of closing, keep it in its snapshot, and report sharp drops.

    Formula (domain.md), in points from a start of 50, clamped to 0–100 and
    rounded to one decimal:
    - deal_score: (score / 100) × 35 − 17.5; an unscored property → 0.
    - required contracts: (signed / required) × 25 − 12.5, signed meaning
      completed. No required contract yet → 0: early in the pipeline there
      is nothing to sign, which is neither good nor bad news (−12.5 would
      mark every new listing as a deal in trouble).
    - a key contact (buyer, seller, lawyer, attorney, lender) +7.5, else −7.5.
    - skip trace: the owner's phone and email found +5; no skip trace −5; a
      trace without both → 0.
    - activity, counting domain.md's events one by one: the last 7 days
      (from now − 7 days on) more than 1.5 × the 7 days before +5, so any
      activity after a silent week counts; both weeks without any −5.
    - an accepted or submitted offer +5; otherwise more than two rejected −5
      (a live offer outweighs the rejected ones).

    The value is stored in property_snapshots.closing_probability. A drop of
    15 points or more against the stored value → high, naming the address,
    both values and the factors holding the deal back; a property seen for
    the first time (no snapshot, or one price_changes created without a
    probability) only gets its value. Each item carries every factor's
    points (data["factors"]).

    Writes: a missing snapshot is created by price_changes' own first
    observation (checks.market; INSERT … ON CONFLICT DO NOTHING, so the two
    checks may race), then one UPDATE … FROM writes every probability that
    differs and returns the properties it changed. Only those are reported,
    so of two concurrent runs one reports a drop and the other, finding the
    value already written, nothing. The price column is never touched.
    actions_taken counts the snapshots written. Statements: one read (of
    the deals whose probability changed, with the totals of all), then the
    INSERT when a snapshot is missing and the UPDATE when a probability
    changed.
    """
    session = session_of(ctx)
    outlook = _outlook(ctx)
    previous = PropertySnapshot.closing_probability
    compared = (
        select(outlook, PropertySnapshot.id.label("snapshot"), previous.label("previous"),
               func.count().over().label("examined"),
               func.sum(case((PropertySnapshot.id.is_(None), 1), else_=0)).over().label("missing"),
               func.sum(case((previous.is_(None), 1), else_=0)).over().label("first_observations"),
               func.min(outlook.c.id).over().label("first_id"))
        .outerjoin(PropertySnapshot, PropertySnapshot.property_id == outlook.c.id)
        .subquery("compared")
    )
    # Only the deals whose probability changed come back (and one more, for the totals): the rest is counted.
    rows = session.execute(
        select(compared)
        .where(or_(compared.c.previous.is_distinct_from(compared.c.probability), compared.c.id == compared.c.first_id))
        .order_by(compared.c.id)
    ).all()
    totals = rows[0] if rows else None
    if totals is not None and totals.missing:
        _record_first_observations(ctx)
    changed: set[int] = set()
    moved = [(row.id, row.probability) for row in rows if row.previous != row.probability]
    if moved:
        # The values just computed, sent back rather than computed again; rounded again, as computed.
        written = json_rows(session, "written", {"property_id": Integer(), "probability": Float()}, moved)
        probability = rounded(written.c.probability)
        changed = set(session.scalars(
            update(PropertySnapshot)
            .where(PropertySnapshot.property_id == written.c.property_id,
                   PropertySnapshot.closing_probability.is_distinct_from(probability))
            .values(closing_probability=probability, updated_at=utc(ctx.now))
            .returning(PropertySnapshot.property_id)
            .execution_options(synchronize_session=False)
        ))
    drops = [row for row in rows if row.id in changed and row.previous is not None
             and round(row.previous - row.probability, 1) >= BIG_DROP]
    return CheckResult(
        items=[_drop_item(row) for row in drops],
        metrics={"rows_examined": totals.examined if totals else 0, "actions_taken": len(changed)},
        data={"first_observations": totals.first_observations if totals else 0},
    )


def _drop_item(row: Any) -> ActionItem:
    reasons = _held_back_by(row)
    fall = round(row.previous - row.probability, 1)
    return ActionItem(
        subject=f"property:{row.id}",
        priority=Priority.high,
        message=(f"The chance of closing {row.address} fell {fall:g} points, "
                 f"from {_percent(row.previous)} to {_percent(row.probability)}.{_why(reasons)}"),
        next_step=NEXT_STEPS[reasons[0][0]] if reasons else "Ask the seller and the buyer what changed",
        affected={"properties": [row.id]},
        data={"from": row.previous, "to": row.probability, "factors": _contributions(row),
              "holding_back": [name for name, _, _ in reasons]},
    )


# --- deals_needing_attention ---------------------------------------------------------


@check("deals_needing_attention", group=PREDICTIVE, schedule=HOURLY, description="Identify deals needing attention",
       after=("closing_probabilities",), read_only=True)
def deals_needing_attention(ctx: CheckContext) -> CheckResult:
    """An open deal whose stored closing probability is under 40 → high, with what pulls it down.

    The probability is the one closing_probabilities stored (this check runs
    after it); exactly 40 is not under 40. The reasons are the factors with
    negative points, recomputed by the same expressions (`_outlook`) for
    these deals only, worst first and said in words ("no required contract
    signed", "no buyer, seller, lawyer or lender on file", "no activity in
    two weeks", …); the next step answers the worst.

    Statements: one read of the low probabilities (with the count of the
    open deals that have one), one of the low deals' factors. Their ids are
    sent to the second read as one JSON parameter (`json_rows`) rather than
    as a subquery over the snapshots: the planner's statistics on the
    probabilities lag behind closing_probabilities' writes (an ANALYZE comes
    minutes later, if autovacuum runs at all), and from such a subquery it
    would believe in one deal and compute each grouped pass once per deal.
    A list it is given has a fixed estimate whatever the statistics, so each
    table is read through its property_id index for these deals only.
    """
    session = session_of(ctx)
    probability = PropertySnapshot.closing_probability
    stored = in_scope(
        select(Property.id, probability.label("probability"), func.count().over().label("stored"),
               func.min(Property.id).over().label("first_id"))
        .join(PropertySnapshot, PropertySnapshot.property_id == Property.id)
        .where(open_property(), probability.is_not(None)),
        ctx,
    ).subquery("stored")
    # The low ones come back, and one more row for the count.
    found = session.execute(
        select(stored).where(or_(stored.c.probability < ALARM, stored.c.id == stored.c.first_id))
    ).all()
    low = {row.id: row.probability for row in found if row.probability < ALARM}
    given = json_rows(session, "low", {"property_id": Integer()}, [(pid,) for pid in low])
    outlook = _outlook(ctx, among=select(given.c.property_id))
    rows = sorted(session.execute(select(outlook)).all(), key=lambda row: (low[row.id], row.id))
    items = []
    for row in rows:
        reasons = _held_back_by(row)
        items.append(ActionItem(
            subject=f"property:{row.id}",
            priority=Priority.high,
            message=f"{row.address} has only a {_percent(low[row.id])} chance of closing.{_why(reasons)}",
            next_step=NEXT_STEPS[reasons[0][0]] if reasons else "Review the deal with the seller",
            affected={"properties": [row.id]},
            data={"closing_probability": low[row.id], "factors": _contributions(row),
                  "holding_back": [name for name, _, _ in reasons]},
        ))
    return CheckResult(items=items, metrics={"rows_examined": found[0].stored if found else 0, "actions_taken": 0})


# --- follow_up_queue -----------------------------------------------------------------

QUEUE_LENGTH = 10
POINTS_PER_QUIET_DAY = 10.0
QUIET_POINTS_CAP = 300.0
GRADE_MULTIPLIERS = {"A": 2.0, "B": 1.5, "C": 1.0, "D": 0.8}
UNGRADED_MULTIPLIER = 0.5  # F, or not scored yet
# Points for each reason to call, besides the quiet days, and how it is said.
BONUSES = {
    "deadline_close": (40.0, "a contract deadline is close or past"),
    "follow_up_overdue": (35.0, "a follow-up is overdue"),
    "unsigned_too_long": (30.0, "a required contract has been unsigned for over 3 days"),
    "no_buyer_while_waiting": (15.0, "it is waiting for contracts with no buyer on file"),
}
QUEUE_NEXT_STEPS = {
    "quiet": "Call the seller for an update",
    "deadline_close": "Get the contract signed or agree a new deadline",
    "follow_up_overdue": "Make the overdue follow-up call",
    "unsigned_too_long": "Chase the unsigned contract",
    "no_buyer_while_waiting": "Find the buyer and add them to the property",
}
# Lowest score of each priority, highest first.
QUEUE_PRIORITIES = ((Priority.urgent, 100.0), (Priority.high, 60.0), (Priority.medium, 30.0))


def _queue_priority(score: float) -> Priority:
    return next((priority for priority, floor in QUEUE_PRIORITIES if score >= floor), Priority.low)


@check("follow_up_queue", read_only=True, group=PREDICTIVE, schedule=HOURLY, description="Rank the follow-up queue",
       after=("rescore_properties",))
def follow_up_queue(ctx: CheckContext) -> CheckResult:
    """Rank the open properties nobody touched in the last 24 hours: whom to call first.

    Score (domain.md), rounded to one decimal:
        min(days inactive × 10, 300) × grade multiplier
        (A 2.0, B 1.5, C 1.0, D 0.8, F or not scored 0.5)
        + 40 a required, unsettled contract due within 3 days or overdue
        + 35 an overdue follow-up task (enabled, pending or scheduled,
             scheduled_at past) on the property or one of its contacts
        + 30 a required contract unsigned more than 3 days after creation
        + 15 waiting_for_contracts with no buyer contact
    Days inactive are fractional days since the last activity (domain.md);
    "touched in the last 24 hours" means activity at or after now − 24 h,
    so a property quiet for exactly a day is not ranked yet. The deadline
    and unsigned rules are contract_deadlines' and unsigned_contracts'. It
    runs after rescore_properties so the grades are this hour's.

    Ranked in SQL (score, then id, top 10) and published as the report's
    ranking "Your follow-up list": each entry has its priority (≥ 100 urgent,
    ≥ 60 high, ≥ 30 medium, else low), a sentence naming the address and the
    two biggest reasons, and the next step for the biggest. The entries are
    not action items: they are a ranking of properties other checks already
    report on (stale, deadlines, unsigned contracts), and the list reshuffles
    every hour — as findings they would repeat those checks and be told anew
    at each reshuffle.

    "Touched" is tested in two steps: a note since now − 24 h (most touched
    properties have one) sets the property aside in one pass over that
    day's notes; for the rest the last activity, which the score needs
    anyway, decides. Reading every kind of event of the day instead took
    three scans of contracts and one of offers (their times have no index),
    and PostgreSQL then planned the whole read in parallel, each worker
    grouping contacts and contracts anew. Statement: one.
    """
    touched_since = utc(ctx.now - UNTOUCHED_FOR)
    # A note since then means touched: those properties are set aside in one pass over the period's notes. For the
    # rest, the last activity the score needs anyway decides (filtered outside the deals' subquery, computed once).
    deal = _open_deals(ctx, ("last_activity", *BONUSES), ~exists().where(
        PropertyNote.property_id == Property.id, PropertyNote.created_at >= touched_since))
    quiet_days = days_between(utc(ctx.now), deal.c.last_activity)
    quiet_points = (
        case((quiet_days * POINTS_PER_QUIET_DAY >= QUIET_POINTS_CAP, QUIET_POINTS_CAP),
             else_=quiet_days * POINTS_PER_QUIET_DAY)
        * case(GRADE_MULTIPLIERS, value=deal.c.score_grade, else_=UNGRADED_MULTIPLIER)
    )
    bonus = [case((deal.c[name], points), else_=0.0) for name, (points, _) in BONUSES.items()]
    score = rounded(sum(bonus, quiet_points)).label("score")
    rows = session_of(ctx).execute(
        select(deal.c.id, deal.c.address, *(deal.c[name] for name in BONUSES), quiet_days.label("quiet_days"),
               rounded(quiet_points).label("quiet_points"), score, func.count().over().label("ranked"))
        .where(deal.c.last_activity < touched_since)
        .order_by(score.desc(), deal.c.id)
        .limit(QUEUE_LENGTH)
    ).all()
    return CheckResult(
        metrics={"rows_examined": rows[0].ranked if rows else 0, "actions_taken": 0},
        data={"ranking": {"title": "Your follow-up list",
                          "entries": [_queued(rank, row) for rank, row in enumerate(rows, start=1)]}},
    )


def _queued(rank: int, row: Any) -> dict[str, Any]:
    """The ranking entry of the property at `rank`."""
    reasons = [("quiet", row.quiet_points, f"no activity in {spoken_days(int(row.quiet_days))}")]
    reasons += [(name, points, words) for name, (points, words) in BONUSES.items() if getattr(row, name)]
    reasons.sort(key=lambda reason: -reason[1])
    return {
        "rank": rank, "property": row.id, "address": row.address, "score": row.score,
        "priority": _queue_priority(row.score).value, "days_inactive": round(row.quiet_days, 1),
        "message": f"{row.address}: {spoken_list([words for _, _, words in reasons[:2]])}.",
        "next_step": QUEUE_NEXT_STEPS[reasons[0][0]],
        "reasons": [words for _, _, words in reasons],
        "points": {name: points for name, points, _ in reasons},
        "affected_properties": [row.id],
    }
