"""Market intelligence: watchlist matches, market shifts, competitive activity, price changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from checks.market import competitive_activity, market_shifts, price_changes, watchlist_matches
from checks.schema import MarketWatchlist, Notification, Property, PropertySnapshot
from heartbeat_mcp.database import Database
from heartbeat_mcp.task import Priority
from tests.factories import NOW, Portfolio, build, by_subject, count_statements, days, run_check, run_together

SECOND = timedelta(seconds=1)


def rows(database: Database, query: Any) -> list[Any]:
    with database.sessions() as session:
        return list(session.execute(query))


def watchlist_state(database: Database, watchlist_id: int) -> tuple[int, Any]:
    (row,) = rows(database, select(MarketWatchlist.match_count, MarketWatchlist.last_matched_at)
                  .where(MarketWatchlist.id == watchlist_id))
    return row.match_count, row.last_matched_at


def match_notifications(database: Database) -> list[Notification]:
    with database.sessions() as session:
        return list(session.scalars(
            select(Notification).where(Notification.type == "watchlist_match").order_by(Notification.id)))


def assert_speakable(message: str) -> None:
    """One plain sentence: no markdown, no record ids."""
    assert message.endswith(".") and not any(mark in message for mark in ("*", "#", "`", "_", "id "))


# --- watchlist_matches ------------------------------------------------------------------


def test_new_matching_listings_are_reported_once_advancing_the_watchlist(database: Database) -> None:
    def fill(p: Portfolio) -> Any:
        agent = p.agent()
        watchlist = p.watchlist(agent, {"city": "Austin", "max_price": 500000}, name="Austin starters")
        older = p.property(address="12 Oak Street", created_at=NOW - days(2))
        newer = p.property(address="14 Elm Street", created_at=NOW - days(1))
        p.property(address="1 Before Road", created_at=NOW - days(11))  # listed before the watchlist existed
        p.property(address="2 Dallas Road", city="Dallas", created_at=NOW - days(1))
        p.property(address="3 Pricey Road", price=500001.0, created_at=NOW - days(1))
        p.property(address="4 Sold Road", status="complete", created_at=NOW - days(1))
        return watchlist.id, agent.id, older.id, newer.id, newer.created_at

    watchlist_id, agent_id, older, newer, newest_at = build(database, fill)

    items = by_subject(run_check(database, watchlist_matches))

    item = items[f"watchlist:{watchlist_id}"]
    assert list(items) == [f"watchlist:{watchlist_id}"]
    assert item.priority == Priority.medium
    assert item.message == "Your watchlist Austin starters has 2 new listings in Austin: 14 Elm Street and 12 Oak Street."
    assert item.affected == {"properties": [newer, older]}
    assert watchlist_state(database, watchlist_id) == (2, newest_at)
    (note,) = match_notifications(database)
    assert (note.agent_id, note.priority, note.message) == (agent_id, "medium", item.message)
    assert note.data["match_count"] == 2 and [m["id"] for m in note.data["properties"]] == [newer, older]

    again = run_check(database, watchlist_matches)

    assert again.items == []
    assert watchlist_state(database, watchlist_id) == (2, newest_at)
    assert len(match_notifications(database)) == 1


def test_later_listings_add_to_the_count(database: Database) -> None:
    watchlist_id = build(database, lambda p: (p.property(created_at=NOW - days(2)), p.watchlist(p.agent(), {}))[1].id)
    run_check(database, watchlist_matches)
    build(database, lambda p: p.property(created_at=NOW - SECOND))

    result = run_check(database, watchlist_matches, NOW + timedelta(minutes=15))

    assert [item.data["match_count"] for item in result.items] == [1]
    assert watchlist_state(database, watchlist_id) == (2, NOW - SECOND)


CRITERIA_EDGES = [
    # criterion, listing that just meets it, listing that just misses it
    ({"city": "austin"}, {"city": "Austin"}, {"city": "Austin Heights"}),
    ({"state": "tx"}, {"state": "TX"}, {"state": "CA"}),
    ({"property_type": "Condo"}, {"property_type": "condo"}, {"property_type": "townhouse"}),
    ({"min_price": 400000}, {"price": 400000.0}, {"price": 399999.0}),
    ({"max_price": 400000}, {"price": 400000.0}, {"price": 400001.0}),
    ({"min_bedrooms": 3}, {"bedrooms": 3}, {"bedrooms": 2}),
    ({"min_bedrooms": 3}, {"bedrooms": 4}, {"bedrooms": None}),
    ({"min_bathrooms": 2.5}, {"bathrooms": 2.5}, {"bathrooms": 2.0}),
    ({"min_sqft": 1800}, {"square_feet": 1800}, {"square_feet": 1799}),
]


@pytest.mark.parametrize(("criteria", "meets", "misses"), CRITERIA_EDGES)
def test_each_criterion_is_met_at_its_bound_and_missed_just_beyond(
    database: Database, criteria: dict[str, Any], meets: dict[str, Any], misses: dict[str, Any]
) -> None:
    watchlist_id, meeting = build(database, lambda p: (
        p.watchlist(p.agent(), criteria).id,
        p.property(**meets).id,
        p.property(**misses),
    )[:2])

    (item,) = run_check(database, watchlist_matches).items

    assert item.subject == f"watchlist:{watchlist_id}"
    assert item.affected == {"properties": [meeting]}


def test_every_criterion_must_hold(database: Database) -> None:
    criteria = {"city": "Austin", "state": "TX", "property_type": "house", "min_price": 300000, "max_price": 500000,
                "min_bedrooms": 3, "min_bathrooms": 2, "min_sqft": 1500}
    matching = build(database, lambda p: (
        p.watchlist(p.agent(), criteria),
        [p.property(**{key: value}) for key, value in (
            ("city", "Dallas"), ("state", "CA"), ("property_type", "condo"), ("price", 299000.0),
            ("price", 501000.0), ("bedrooms", 2), ("bathrooms", 1.5), ("square_feet", 1400))],
        p.property().id,
    )[2])

    (item,) = run_check(database, watchlist_matches).items

    assert item.affected == {"properties": [matching]}


def test_only_listings_after_the_last_match_count(database: Database) -> None:
    def fill(p: Portfolio) -> Any:
        p.watchlist(p.agent(), {}, last_matched_at=NOW - days(1), match_count=5)
        p.property(created_at=NOW - days(1))  # the listing already matched
        p.property(created_at=NOW + SECOND)  # stamped after the run's clock: next run
        return p.property(created_at=NOW - days(1) + SECOND).id

    fresh = build(database, fill)

    (item,) = run_check(database, watchlist_matches).items

    assert item.affected == {"properties": [fresh]}
    assert item.data["match_count"] == 1


def test_inactive_watchlists_are_left_alone(database: Database) -> None:
    watchlist_id = build(database, lambda p: (p.property(), p.watchlist(p.agent(), {}, is_active=False).id)[1])

    assert run_check(database, watchlist_matches).items == []
    assert watchlist_state(database, watchlist_id) == (0, None)


def test_a_long_list_is_spoken_short_and_named_by_address(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        p.watchlist(p.agent(), {"min_bedrooms": 2}, name="Family homes")
        for n, city in enumerate(["Austin", "Dallas", "Austin", "Houston", "Austin"]):
            p.property(address=f"{n + 1} Main Street", city=city, created_at=NOW - timedelta(hours=n + 1))

    build(database, fill)

    (item,) = run_check(database, watchlist_matches).items

    assert item.message == ("Your watchlist Family homes has 5 new listings: 1 Main Street in Austin, "
                            "2 Main Street in Dallas, 3 Main Street in Austin and 2 more.")
    assert_speakable(item.message)
    assert len(item.affected["properties"]) == 5


def test_agent_scope_runs_only_that_agents_watchlists_over_the_whole_market(database: Database) -> None:
    def fill(p: Portfolio) -> Any:
        mine, theirs = p.agent(), p.agent()
        listing = p.property(agent=theirs)  # another agent's listing is still a lead
        return (mine.id, p.watchlist(mine, {}).id, p.watchlist(theirs, {}).id, listing.id)

    mine, my_watchlist, their_watchlist, listing = build(database, fill)

    items = by_subject(run_check(database, watchlist_matches, agent_id=mine))

    assert list(items) == [f"watchlist:{my_watchlist}"]
    assert items[f"watchlist:{my_watchlist}"].affected == {"properties": [listing]}
    assert watchlist_state(database, their_watchlist) == (0, None)
    assert [n.agent_id for n in match_notifications(database)] == [mine]


def test_two_runs_at_the_same_moment_count_each_match_once(postgres_url: str) -> None:
    """Both runs read the same unmatched state, then race to advance: only one may report."""
    database = Database(postgres_url)
    try:
        watchlists = build(database, lambda p: [
            (p.watchlist(p.agent(), {"city": city}).id, [p.property(city=city) for _ in range(3)])[0]
            for city in ("Austin", "Dallas")
        ])
        results = run_together(database, watchlist_matches, "UPDATE MARKET_WATCHLISTS")

        assert len(results) == 2
        assert sorted(len(r.items) for r in results) == [0, 2]
        assert [watchlist_state(database, w)[0] for w in watchlists] == [3, 3]
        assert len(match_notifications(database)) == 2
    finally:
        database.dispose()


# --- market_shifts ----------------------------------------------------------------------


def market(p: Portfolio, prior: list[float], recent: list[float], city: str = "Austin", **kw: Any) -> None:
    """Listings by another agent: `prior` 45 days ago, `recent` 5 days ago."""
    lister = p.agent()
    for price in prior:
        p.property(agent=lister, city=city, price=price, status="complete", created_at=NOW - days(45), **kw)
    for price in recent:
        p.property(agent=lister, city=city, price=price, created_at=NOW - days(5), **kw)


def my_listing(p: Portfolio, city: str = "Austin", **kw: Any) -> Any:
    """The agent's own open property, listed before both windows."""
    agent = kw.pop("agent", None) or p.agent()
    return p.property(agent=agent, city=city, address="7 Home Street", created_at=NOW - days(90), **kw)


@pytest.mark.parametrize(("recent_price", "expected"), [
    (440000.0, "up 10 percent"), (439600.0, None), (360000.0, "down 10 percent"), (360400.0, None),
])
def test_a_shift_of_ten_percent_is_reported_and_just_under_is_not(
    database: Database, recent_price: float, expected: str | None
) -> None:
    build(database, lambda p: (my_listing(p), market(p, [390000.0, 400000.0, 410000.0], [recent_price] * 3)))

    items = by_subject(run_check(database, market_shifts))

    if expected is None:
        assert items == {}
        return
    item = items["city:Austin, TX"]
    assert item.priority == Priority.medium
    assert f"Prices in Austin are {expected}" in item.message
    assert "400 thousand dollars" in item.message
    assert_speakable(item.message)


@pytest.mark.parametrize(("prior", "recent"), [(2, 3), (3, 2)])
def test_fewer_than_three_listings_in_a_window_are_not_a_trend(database: Database, prior: int, recent: int) -> None:
    build(database, lambda p: (my_listing(p), market(p, [400000.0] * prior, [600000.0] * recent)))

    assert run_check(database, market_shifts).items == []


def test_windows_are_the_last_30_days_against_the_30_before(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        my_listing(p)
        lister = p.agent()
        for at, price in ((days(30), 400000.0), (days(30) - SECOND, 500000.0), (days(60), 900000.0),
                          (days(60) - SECOND, 400000.0), (days(40), 400000.0), (days(1), 500000.0), (days(9), 500000.0),
                          (-SECOND, 100.0)):
            p.property(agent=lister, price=price, created_at=NOW - at)

    build(database, fill)

    (item,) = run_check(database, market_shifts).items

    assert item.data["prior_listings"] == 3 and item.data["recent_listings"] == 3
    assert item.data["change_percent"] == 25.0


def test_only_cities_with_an_open_property_of_the_agent_count(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        me = p.agent()
        my_listing(p, agent=me)
        my_listing(p, agent=me, city="Dallas", status="complete")
        my_listing(p, city="Houston")  # another agent's city
        for city in ("Austin", "Dallas", "Houston"):
            market(p, [400000.0] * 3, [500000.0] * 3, city=city)
        market(p, [400000.0] * 3, [400000.0] * 3, state="ME")  # Austin, Maine: another market
        return me.id

    me = build(database, fill)

    assert list(by_subject(run_check(database, market_shifts, agent_id=me))) == ["city:Austin, TX"]
    # Without a scope every agent's open listings count: the lister's own recent ones make Dallas active too.
    assert list(by_subject(run_check(database, market_shifts))) == ["city:Austin, TX", "city:Dallas, TX", "city:Houston, TX"]


# --- competitive_activity ---------------------------------------------------------------


def competition(p: Portfolio, baseline: int, this_week: int, lister: Any = None) -> None:
    """Listings by another agent in Austin: `baseline` over the 28 days before this week, `this_week` now."""
    lister = lister or p.agent()
    for n in range(baseline):
        p.property(agent=lister, created_at=NOW - days(8 + n % 27))
    for n in range(this_week):
        p.property(agent=lister, created_at=NOW - days(n % 6 + 0.5))


@pytest.mark.parametrize(("baseline", "this_week", "spike"), [
    (6, 3, True),  # weekly average 1.5: exactly twice
    (7, 3, False),  # weekly average 1.75: twice is 3.5
    (0, 3, True),  # from nothing to the minimum
    (0, 2, False),  # below the minimum of 3
    (16, 8, True),
    (17, 8, False),
])
def test_a_spike_is_at_least_twice_the_weekly_average_and_at_least_three(
    database: Database, baseline: int, this_week: int, spike: bool
) -> None:
    me = build(database, lambda p: (competition(p, baseline, this_week), my_listing(p).agent_id)[1])

    items = by_subject(run_check(database, competitive_activity, agent_id=me))

    assert list(items) == (["city:Austin, TX"] if spike else [])
    if spike:
        assert items["city:Austin, TX"].priority == Priority.medium
        assert items["city:Austin, TX"].message.startswith(f"Other agents put {this_week} new listings on the market in Austin")
        assert_speakable(items["city:Austin, TX"].message)


def test_the_week_is_the_last_seven_days(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        lister = p.agent()
        for at in (days(7) - SECOND, days(3), days(1)):
            p.property(agent=lister, created_at=NOW - at)
        for at in (days(7), days(35) - SECOND):  # the four weeks before: average 0.5 a week
            p.property(agent=lister, created_at=NOW - at)
        p.property(agent=lister, created_at=NOW - days(35))  # before the baseline
        return my_listing(p).agent_id

    me = build(database, fill)

    (item,) = run_check(database, competitive_activity, agent_id=me).items

    assert item.data == {"city": "Austin", "state": "TX", "listings_this_week": 3, "weekly_average_before": 0.5}


def test_the_agents_own_listings_are_not_competition_but_everyones_count_without_a_scope(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        me = p.agent()
        my_listing(p, agent=me)
        competition(p, 0, 4, lister=me)
        return me.id

    me = build(database, fill)

    assert run_check(database, competitive_activity, agent_id=me).items == []
    assert list(by_subject(run_check(database, competitive_activity))) == ["city:Austin, TX"]


def test_competition_is_watched_only_where_the_agent_has_an_open_property(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        me = p.agent()
        my_listing(p, agent=me, status="complete")
        competition(p, 0, 5)
        return me.id

    assert run_check(database, competitive_activity, agent_id=build(database, fill)).items == []


# --- price_changes ----------------------------------------------------------------------


def snapshots(database: Database) -> dict[int, float]:
    return dict(rows(database, select(PropertySnapshot.property_id, PropertySnapshot.price)))


def reprice(database: Database, prices: dict[int, float]) -> None:
    with database.transaction() as session:
        for property_id, price in prices.items():
            session.execute(update(Property).where(Property.id == property_id).values(price=price))


def test_the_first_observation_only_records_the_snapshot(database: Database) -> None:
    open_id, done_id = build(database, lambda p: (p.property(price=400000.0, deal_score=71.0).id,
                                                  p.property(status="complete").id))

    assert run_check(database, price_changes).items == []
    (snapshot,) = rows(database, select(PropertySnapshot))
    assert (snapshot[0].property_id, snapshot[0].price, snapshot[0].deal_score, snapshot[0].observed_at) == (
        open_id, 400000.0, 71.0, NOW)
    assert done_id not in snapshots(database)


@pytest.mark.parametrize(("new_price", "priority", "said"), [
    (380000.0, Priority.high, "dropped 5 percent, from 400 thousand dollars to 380 thousand dollars"),
    (380400.0, Priority.low, "dropped 5 percent, from 400 thousand dollars to 380.4 thousand dollars"),
    (1200000.0, Priority.low, "went up 200 percent, from 400 thousand dollars to 1.2 million dollars"),
    (400500.0, Priority.low, "went up less than 1 percent, from 400 thousand dollars to 400.5 thousand dollars"),
])
def test_a_drop_of_five_percent_is_high_and_any_other_change_low(
    database: Database, new_price: float, priority: Priority, said: str
) -> None:
    home = build(database, lambda p: p.property(address="12 Oak Street", price=400000.0).id)
    run_check(database, price_changes)
    reprice(database, {home: new_price})

    (item,) = run_check(database, price_changes, NOW + timedelta(minutes=15)).items

    assert (item.subject, item.priority) == (f"property:{home}", priority)
    assert item.message == f"The price of 12 Oak Street in Austin {said}."
    assert item.affected == {"properties": [home]}
    assert snapshots(database) == {home: new_price}


def test_each_change_is_reported_once(database: Database) -> None:
    home = build(database, lambda p: p.property(price=400000.0).id)
    run_check(database, price_changes)
    reprice(database, {home: 350000.0})
    run_check(database, price_changes)

    assert run_check(database, price_changes).items == []
    assert snapshots(database) == {home: 350000.0}


def test_price_tracking_follows_the_agent_scope_and_the_pipeline(database: Database) -> None:
    def fill(p: Portfolio) -> Any:
        me, other = p.agent(), p.agent()
        return me.id, p.property(agent=me).id, p.property(agent=other).id, p.property(agent=me).id

    me, mine, theirs, closing = build(database, fill)
    run_check(database, price_changes, agent_id=me)
    assert set(snapshots(database)) == {mine, closing}
    reprice(database, {mine: 1.0, theirs: 1.0, closing: 1.0})
    with database.transaction() as session:
        session.execute(update(Property).where(Property.id == closing).values(status="complete"))

    assert list(by_subject(run_check(database, price_changes, agent_id=me))) == [f"property:{mine}"]


# --- statement counts -------------------------------------------------------------------


def busy_market(p: Portfolio, size: int) -> None:
    """Every path of every market check taken, with `size` times the rows."""
    me = p.agent()
    for city in ("Austin", "Dallas"):
        my_listing(p, agent=me, city=city)
        market(p, [400000.0] * 3 * size, [500000.0] * 3 * size, city=city)
        p.watchlist(me, {"city": city})
    for n in range(size):
        p.watchlist(me, {"city": "Austin", "min_bedrooms": 2, "name": f"list {n}"})
        p.property(agent=me, created_at=NOW - days(200))


@pytest.mark.parametrize("check", [watchlist_matches, market_shifts, competitive_activity, price_changes])
def test_statement_count_does_not_grow_with_the_portfolio(database: Database, check: Any) -> None:
    def statements(size: int) -> int:
        database_rows = build(database, lambda p: busy_market(p, size))
        del database_rows
        run_check(database, price_changes, NOW - days(1))  # snapshots exist, so prices can change
        with database.transaction() as session:
            session.execute(update(Property).values(price=Property.price * 0.9))
        with count_statements(database) as seen:
            result = run_check(database, check)
        assert result.items, "the busy market must exercise the check's writes"
        return len(seen)

    small = statements(1)
    with database.transaction() as session:
        for table in (PropertySnapshot, MarketWatchlist, Property):
            session.execute(table.__table__.delete())
    assert statements(10) == small
