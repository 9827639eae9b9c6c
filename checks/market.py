"""Market intelligence: new listings for saved searches, price trends, competition, price moves.

The agent's market is the set of cities where they have a property still in
the pipeline. Averages and listing counts in those cities are taken over
every listing in the database, whoever lists it: the market is everybody's.
Each check issues a fixed number of statements whatever the portfolio size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, func, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session, aliased

from checks.registry import EVERY_15_MINUTES, MARKET, check
from checks.schema import MarketWatchlist, Notification, Property, PropertySnapshot
from checks.spoken import spoken_number, spoken_percent, spoken_price
from checks.sql import by_owner_index, in_scope, open_property
from heartbeat_mcp.database import insert_with_conflicts
from heartbeat_mcp.report import plural, spoken_list
from heartbeat_mcp.sqltypes import UTCDateTime
from heartbeat_mcp.task import ActionItem, CheckContext, CheckResult, Priority

# --- the agent's market -----------------------------------------------------------------


def active_cities(ctx: CheckContext) -> Select[Any]:
    """(city, state) pairs where the agent has a property that is not complete, for an IN test.

    A city is identified with its state: Portland, Oregon and Portland,
    Maine are different markets. A pair repeats once per open property:
    an IN test does not need them distinct, and asking for DISTINCT makes
    SQLite walk the (city, state, …) index for its order, fetching every
    property's row for its status, instead of reading the table straight.
    """
    return in_scope(select(Property.city, Property.state).where(open_property()), ctx)


def city_subject(city: str, state: str) -> str:
    return f"city:{city}, {state}"


@dataclass(frozen=True)
class Window:
    """A half-open stretch of listing time, (start, end]."""

    start: datetime
    end: datetime

    def holds(self, created_at: Any) -> ColumnElement[bool]:
        return and_(created_at > self.start, created_at <= self.end)


def _days_back(now: datetime, newer: int, older: int) -> Window:
    return Window(now - timedelta(days=older), now - timedelta(days=newer))


# --- watchlist_matches ------------------------------------------------------------------

# Matches named in an item and its notification; the rest are counted.
LISTED_MATCHES = 10
SPOKEN_MATCHES = 3


def _criteria_match(watchlist: Any, listing: Any) -> ColumnElement[bool]:
    """Every criterion the watchlist sets holds for the listing; absent (or null) ones are ignored.

    Text criteria compare case-insensitively; minimums and maximums are
    inclusive. A listing that leaves a constrained field empty (a lot with
    no bedroom count against min_bedrooms) does not match: nothing says it
    qualifies.
    """
    criteria = watchlist.criteria

    def same(key: str, column: Any) -> ColumnElement[bool]:
        wanted = criteria[key].as_string()
        return or_(wanted.is_(None), func.lower(column) == func.lower(wanted))

    def at_least(key: str, column: Any) -> ColumnElement[bool]:
        bound = criteria[key].as_float()
        return or_(bound.is_(None), column >= bound)

    def at_most(key: str, column: Any) -> ColumnElement[bool]:
        bound = criteria[key].as_float()
        return or_(bound.is_(None), column <= bound)

    return and_(
        same("city", listing.city), same("state", listing.state), same("property_type", listing.property_type),
        at_least("min_price", listing.price), at_most("max_price", listing.price),
        at_least("min_bedrooms", listing.bedrooms), at_least("min_bathrooms", listing.bathrooms),
        at_least("min_sqft", listing.square_feet),
    )


@dataclass
class WatchlistHit:
    """One watchlist's new matches as read in this run."""

    id: int
    name: str
    agent_id: int
    seen: datetime | None  # last_matched_at when read: the compare-and-set guard
    city_wanted: str | None  # the watchlist's city criterion: every match is there
    newest: datetime
    count: int
    listed: list[dict[str, Any]]

    def message(self) -> str:
        """Your watchlist X has 5 new listings in Austin: A, B, C and 2 more (the city once, when the watchlist names one)."""
        spoken = self.listed[:SPOKEN_MATCHES]
        where = f" in {spoken[0]['city']}" if self.city_wanted else ""
        places = [row["address"] if where else f"{row['address']} in {row['city']}" for row in spoken]
        if self.count > len(spoken):
            places.append(f"{self.count - len(spoken)} more")
        return f"Your watchlist {self.name} has {plural(self.count, 'new listing')}{where}: {spoken_list(places)}."


def _read_hits(ctx: CheckContext) -> list[WatchlistHit]:
    """The newest few matches of every active watchlist, with each watchlist's total and newest time.

    Read watchlist by watchlist, each one's new listings through the
    created_at index. The active test is kept off SQLite's indexes
    (`by_owner_index`): without statistics, SQLite would otherwise build an
    automatic index on is_active and drive the join from the listings,
    reading every listing ever made (half a second at 100,000 properties)
    instead of the few new since each watchlist's mark.
    """
    w = MarketWatchlist
    per_watchlist = {"partition_by": w.id}
    query = (
        select(
            w.id.label("watchlist_id"), w.name, w.agent_id, w.last_matched_at.label("seen"),
            w.criteria["city"].as_string().label("city_wanted"),
            Property.id.label("property_id"), Property.address, Property.city, Property.price,
            func.count().over(**per_watchlist).label("matches"),
            func.max(Property.created_at).over(**per_watchlist).label("newest"),
            func.row_number().over(**per_watchlist, order_by=(Property.created_at.desc(), Property.id.desc())).label("rank"),
        )
        .join(Property, and_(
            Property.created_at > func.coalesce(w.last_matched_at, w.created_at),
            Property.created_at <= ctx.now,
            open_property(),
            _criteria_match(w, Property),
        ))
        .where(by_owner_index(w.is_active))
    )
    if ctx.settings.agent_id is not None:
        query = query.where(w.agent_id == ctx.settings.agent_id)
    ranked = query.subquery()
    rows = ctx.session.execute(
        select(ranked).where(ranked.c.rank <= LISTED_MATCHES).order_by(ranked.c.watchlist_id, ranked.c.rank)
    )
    hits: dict[int, WatchlistHit] = {}
    for row in rows:
        hit = hits.get(row.watchlist_id)
        if hit is None:
            hit = hits[row.watchlist_id] = WatchlistHit(
                row.watchlist_id, row.name, row.agent_id, row.seen, row.city_wanted, row.newest, row.matches, [])
        hit.listed.append({"id": row.property_id, "address": row.address, "city": row.city, "price": row.price})
    return list(hits.values())


def _advance(session: Session, hits: Sequence[WatchlistHit]) -> set[int]:
    """Move each watchlist's mark to its newest match, if nobody moved it since we read it.

    One UPDATE for all of them; each row's WHERE re-checks the value read, so
    of two runs that read the same state only one advances a watchlist (the
    other waits for its row lock, then finds the value changed). Returns the
    watchlists this run advanced: only those are reported.
    """
    if not hits:
        return set()
    w = MarketWatchlist
    by_id = {"value": w.id}
    statement = (
        update(w)
        .where(w.id.in_([h.id for h in hits]),
               or_(*(and_(w.id == h.id, w.last_matched_at.is_not_distinct_from(h.seen)) for h in hits)))
        .values(
            last_matched_at=case({h.id: literal(h.newest, UTCDateTime()) for h in hits}, **by_id),
            match_count=w.match_count + case({h.id: h.count for h in hits}, **by_id),
        )
        .returning(w.id)
        .execution_options(synchronize_session=False)
    )
    return set(session.scalars(statement))


def _notify_matches(ctx: CheckContext, hits: Sequence[WatchlistHit]) -> None:
    """One `watchlist_match` notification per advanced watchlist: the durable record of the match."""
    if not hits:
        return
    ctx.session.execute(Notification.__table__.insert(), [
        {
            "type": "watchlist_match", "priority": Priority.medium.value, "title": f"New matches for {h.name}",
            "message": h.message(), "property_id": h.listed[0]["id"] if h.count == 1 else None,
            "contact_id": None, "contract_id": None, "agent_id": h.agent_id, "data": _hit_data(h),
            "is_read": False, "is_dismissed": False, "created_at": ctx.now,
        }
        for h in hits
    ])


def _hit_data(hit: WatchlistHit) -> dict[str, Any]:
    return {"watchlist_id": hit.id, "watchlist": hit.name, "match_count": hit.count,
            "matched_through": hit.newest.isoformat(), "properties": hit.listed}


@check("watchlist_matches", group=MARKET, schedule=EVERY_15_MINUTES,
       description="Match new listings against market watchlists")
def watchlist_matches(ctx: CheckContext) -> CheckResult:
    """Report new listings that fit an active watchlist, once each (autonomous action).

    Rule (domain.md): for each active watchlist, the listings created after
    its last_matched_at (or its created_at, if it never matched) that meet
    every criterion it sets → one medium item per watchlist naming the
    matches; last_matched_at advances and match_count grows by the number
    of matches. Each advanced watchlist also gets a `watchlist_match`
    notification, because its item resolves itself on the next run.

    Choices:
    - last_matched_at moves to the newest match's created_at, not to now: the
      mark stays on the listings' own clock, so a listing stamped a moment
      before now but committed after this run is still found next time. It
      moves only when something matched, keeping the column's meaning.
    - Listings from every agent count (a watchlist watches the market), but
      not complete ones: a sold listing is no lead. With HEARTBEAT_AGENT_ID
      set, only that agent's watchlists run.
    - Exactly once: see `_advance`; a watchlist some other run advanced in
      the meantime is left to that run's report.
    - An item names the newest ten matches and speaks three; the count and
      match_count cover all of them.
    """
    hits = _read_hits(ctx)
    advanced_ids = _advance(ctx.session, hits)
    advanced = [h for h in hits if h.id in advanced_ids]
    _notify_matches(ctx, advanced)
    items = [
        ActionItem(
            subject=f"watchlist:{h.id}", priority=Priority.medium, message=h.message(),
            next_step="Send the new listings to the clients behind this watchlist.",
            affected={"properties": [row["id"] for row in h.listed]}, data=_hit_data(h),
        )
        for h in advanced
    ]
    return CheckResult(
        items=items,
        metrics={"rows_examined": sum(len(h.listed) for h in hits), "actions_taken": len(advanced)},
        data={"matches": sum(h.count for h in advanced)},
    )


# --- the agent's cities, measured -------------------------------------------------------


def _city_windows(ctx: CheckContext, windows: dict[str, Window], *, others_only: bool = False) -> list[Any]:
    """Per active city: how many listings each window holds and their total price, all agents' listings.

    Per active city, one range of the (city, state, created_at, price)
    index over the windows' span, read from the index alone; the rows are
    one per active city, however large the portfolio.
    `others_only` leaves out the scoped agent's own listings (without
    HEARTBEAT_AGENT_ID there is no "own" portfolio to leave out).
    """
    listing = aliased(Property, name="listing")
    columns = []
    for name, window in windows.items():
        inside = window.holds(listing.created_at)
        columns.append(func.count(case((inside, 1))).label(f"{name}_count"))
        columns.append(func.coalesce(func.sum(case((inside, listing.price))), 0.0).label(f"{name}_total"))
    query = (
        select(listing.city, listing.state, *columns)
        .where(
            tuple_(listing.city, listing.state).in_(active_cities(ctx)),
            listing.created_at > min(w.start for w in windows.values()),
            listing.created_at <= max(w.end for w in windows.values()),
        )
        .group_by(listing.city, listing.state)
        .order_by(listing.city, listing.state)
    )
    if others_only and ctx.settings.agent_id is not None:
        query = query.where(listing.agent_id != ctx.settings.agent_id)
    return list(ctx.session.execute(query))


# --- market_shifts ----------------------------------------------------------------------

SHIFT_WINDOW_DAYS = 30
SHIFT_THRESHOLD = 0.10
MIN_LISTINGS_PER_WINDOW = 3


@check("market_shifts", read_only=True, group=MARKET, schedule=EVERY_15_MINUTES,
       description="Detect market shifts in the agent's active cities")
def market_shifts(ctx: CheckContext) -> CheckResult:
    """Tell the agent when asking prices in one of their cities have moved by a tenth or more.

    Rule (domain.md): in each city where the agent has a property that is
    not complete, the average price of listings created in the last 30 days
    against those created 30 to 60 days ago; a change of 10% or more, with at
    least 3 listings in each window → medium, saying up or down and by how much.

    Choices:
    - "Over 10%" is read as 10% or more, like the 5% rule of price_changes:
      a move an agent would announce as "up 10 percent" is reported.
    - The averages cover every listing in the city, any agent, any stage: the
      market, not the portfolio. Windows are (now-30d, now] and (now-60d, now-30d].
    - The rule is applied in Python to one aggregated row per active city.
    """
    windows = {"recent": _days_back(ctx.now, 0, SHIFT_WINDOW_DAYS),
               "prior": _days_back(ctx.now, SHIFT_WINDOW_DAYS, 2 * SHIFT_WINDOW_DAYS)}
    rows = _city_windows(ctx, windows)
    items = [item for row in rows if (item := _shift_item(row)) is not None]
    return CheckResult(items=items, metrics={"rows_examined": len(rows), "actions_taken": 0})


def _shift_item(row: Any) -> ActionItem | None:
    if min(row.recent_count, row.prior_count) < MIN_LISTINGS_PER_WINDOW:
        return None
    recent, prior = row.recent_total / row.recent_count, row.prior_total / row.prior_count
    if prior <= 0 or abs(recent - prior) < SHIFT_THRESHOLD * prior:
        return None
    change = (recent - prior) / prior
    direction = "up" if change > 0 else "down"
    place = row.city
    return ActionItem(
        subject=city_subject(row.city, row.state), priority=Priority.medium,
        message=(f"Prices in {place} are {direction} {spoken_percent(change)}: new listings of the last 30 days "
                 f"average {spoken_price(recent)}, against {spoken_price(prior)} the month before."),
        next_step=f"Review the asking prices of your {place} listings with their sellers.",
        data={"city": row.city, "state": row.state, "recent_average": round(recent, 2),
              "prior_average": round(prior, 2), "change_percent": round(change * 100, 1),
              "recent_listings": row.recent_count, "prior_listings": row.prior_count},
    )


# --- competitive_activity ---------------------------------------------------------------

SPIKE_FACTOR = 2
MIN_SPIKE_LISTINGS = 3
BASELINE_WEEKS = 4


@check("competitive_activity", group=MARKET, schedule=EVERY_15_MINUTES,
       description="Watch competitive listing activity in those cities")
def competitive_activity(ctx: CheckContext) -> CheckResult:
    """Warn when other agents suddenly list much more in one of the agent's cities.

    Rule (domain.md): in each city where the agent has a property that is
    not complete, new listings by other agents in the last 7 days at least
    twice the weekly average of the 28 days before, and at least 3 → medium.

    Choices:
    - Windows: (now-7d, now] against (now-35d, now-7d]. "At least twice the
      weekly average" is compared in whole numbers (4 × this week ≥ 2 × the
      four weeks' total), so exactly twice counts.
    - A city with no listings in the four weeks before has a spike as soon
      as 3 arrive in a week.
    - With HEARTBEAT_AGENT_ID set, "other agents" are everyone else; without
      it the heartbeat watches all agents at once, and every new listing in
      the city is competition for someone, so all of them count.
    """
    windows = {"week": _days_back(ctx.now, 0, 7), "baseline": _days_back(ctx.now, 7, 7 * (1 + BASELINE_WEEKS))}
    rows = _city_windows(ctx, windows, others_only=True)
    items = [_competition_item(row) for row in rows if _is_spike(row.week_count, row.baseline_count)]
    return CheckResult(items=items, metrics={"rows_examined": len(rows), "actions_taken": 0})


def _is_spike(week: int, baseline_total: int) -> bool:
    """At least 3 this week and at least twice the weekly average (total ÷ 4), in integers."""
    return week >= MIN_SPIKE_LISTINGS and week * BASELINE_WEEKS >= SPIKE_FACTOR * baseline_total


def _competition_item(row: Any) -> ActionItem:
    place = row.city
    weekly = row.baseline_count / BASELINE_WEEKS
    usual = (f"about {spoken_number(weekly)} a week over the four weeks before" if row.baseline_count
             else "none in the four weeks before")
    return ActionItem(
        subject=city_subject(row.city, row.state), priority=Priority.medium,
        message=f"Other agents put {plural(row.week_count, 'new listing')} on the market in {place} this week, against {usual}.",
        next_step=f"Look over the new competition in {place} and check your listings' pricing and presentation.",
        data={"city": row.city, "state": row.state, "listings_this_week": row.week_count,
              "weekly_average_before": weekly},
    )


# --- price_changes ----------------------------------------------------------------------

BIG_DROP = 0.05


@dataclass(frozen=True)
class PriceChange:
    property_id: int
    address: str
    city: str
    old: float
    new: float

    @property
    def fraction(self) -> float:
        return (self.new - self.old) / self.old if self.old else 0.0

    @property
    def big_drop(self) -> bool:
        """A drop of 5% or more, compared without division so exactly 5% counts."""
        return self.old - self.new >= BIG_DROP * self.old > 0

    def item(self) -> ActionItem:
        verb = "dropped" if self.new < self.old else "went up"
        return ActionItem(
            subject=f"property:{self.property_id}",
            priority=Priority.high if self.big_drop else Priority.low,
            message=(f"The price of {self.address} in {self.city} {verb} {spoken_percent(self.fraction)}, "
                     f"from {spoken_price(self.old)} to {spoken_price(self.new)}."),
            next_step=("Ask the seller what prompted the cut and tell interested buyers."
                       if self.new < self.old else "Make sure buyers and marketing show the new price."),
            affected={"properties": [self.property_id]},
            data={"old_price": self.old, "new_price": self.new, "change_percent": round(self.fraction * 100, 1)},
        )


def _tracked(ctx: CheckContext, query: Select[Any]) -> Select[Any]:
    return in_scope(query.where(open_property()), ctx)


def _read_price_changes(ctx: CheckContext) -> list[PriceChange]:
    query = _tracked(ctx, (
        select(Property.id, Property.address, Property.city, PropertySnapshot.price.label("old"), Property.price)
        .join(PropertySnapshot, PropertySnapshot.property_id == Property.id)
        .where(PropertySnapshot.price != Property.price)
        .order_by(Property.id)
    ))
    return [PriceChange(r.id, r.address, r.city, r.old, r.price) for r in ctx.session.execute(query)]


def _record_changes(ctx: CheckContext, changes: Sequence[PriceChange]) -> None:
    """Move each changed snapshot to the price reported, if it still holds the price we read.

    One executemany; the guard on the old price makes a concurrent writer's
    newer observation win instead of being overwritten.
    """
    if not changes:
        return
    snapshots = PropertySnapshot.__table__
    ctx.session.execute(
        update(snapshots)
        .where(snapshots.c.property_id == bindparam("pid"), snapshots.c.price == bindparam("old"))
        .values(price=bindparam("new"), observed_at=ctx.now, updated_at=ctx.now),
        [{"pid": c.property_id, "old": c.old, "new": c.new} for c in changes],
    )


def _record_first_observations(ctx: CheckContext) -> None:
    """INSERT … SELECT a snapshot for every tracked property that has none yet.

    ON CONFLICT DO NOTHING: the predictive checks keep snapshots of the same
    properties and may insert one at the same moment.
    """
    unseen = _tracked(ctx, (
        select(Property.id, Property.price, Property.deal_score, literal(ctx.now, UTCDateTime()),
               literal(ctx.now, UTCDateTime()))
        .where(~select(PropertySnapshot.id).where(PropertySnapshot.property_id == Property.id).exists())
    ))
    ctx.session.execute(
        insert_with_conflicts(ctx.session, PropertySnapshot.__table__)
        .from_select(["property_id", "price", "deal_score", "observed_at", "updated_at"], unseen)
        .on_conflict_do_nothing(index_elements=["property_id"])
    )


@check("price_changes", group=MARKET, schedule=EVERY_15_MINUTES,
       description="Track price changes on properties in the pipeline")
def price_changes(ctx: CheckContext) -> CheckResult:
    """Tell the agent when the price of a property in the pipeline changed since it was last seen.

    Rule (domain.md): properties that are not complete whose price differs
    from their property_snapshots row; a drop of 5% or more → high, any other
    change (a smaller drop, a rise) → low. A property seen for the first time
    only gets its snapshot.

    Choices:
    - Each change is reported once: the snapshot takes the new price in the
      same transaction, so the item resolves on the next run unless the
      price moves again. observed_at is when the recorded price was first
      seen; unchanged snapshots are not rewritten, so a quiet run writes nothing.
    - First observations also record deal_score (the last observed score);
      closing_probability is left to closing_probabilities.
    - Statements: one read, one executemany for the changed snapshots (when
      any), one INSERT … SELECT for new ones.
    """
    changes = _read_price_changes(ctx)
    _record_changes(ctx, changes)
    _record_first_observations(ctx)
    return CheckResult(
        items=[c.item() for c in changes],
        metrics={"rows_examined": len(changes), "actions_taken": len(changes)},
    )
