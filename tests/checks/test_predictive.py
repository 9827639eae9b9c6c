"""Predictive insights: deal scores, closing probabilities, deals needing attention, the follow-up queue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from checks.predictive import closing_probabilities, deals_needing_attention, follow_up_queue, rescore_properties
from checks.schema import Property, PropertySnapshot
from heartbeat_mcp.database import Database
from heartbeat_mcp.task import CheckResult, Priority
from tests.factories import (
    NOW, Portfolio, build, by_subject, count_statements, days, one_agent_with, run_check, run_together,
    statements_small_and_large,
)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def properties(database: Database) -> dict[int, Property]:
    with database.sessions() as session:
        return {home.id: home for home in session.scalars(select(Property))}


def snapshots(database: Database) -> dict[int, PropertySnapshot]:
    with database.sessions() as session:
        return {s.property_id: s for s in session.scalars(select(PropertySnapshot))}


def snapshot(p: Portfolio, home: Property, probability: float | None, price: float | None = None) -> None:
    """A snapshot as an earlier run left it, an hour ago."""
    p.session.add(PropertySnapshot(
        property_id=home.id, price=home.price if price is None else price, deal_score=home.deal_score,
        closing_probability=probability, observed_at=NOW - HOUR, updated_at=NOW - HOUR,
    ))
    p.session.flush()


# --- rescore_properties -------------------------------------------------------------

# (zestimate for a 400,000 listing, key contact and skip trace, active this week) → score and grade.
GRADE_EDGES = [
    (440_000.0, True, True, 80.0, "A"),  # 10% under the Zestimate: 40 market points
    (439_800.0, True, True, 79.9, "B"),
    (400_000.0, True, True, 60.0, "B"),  # at the Zestimate: 20
    (399_800.0, True, True, 59.9, "C"),
    (400_000.0, False, True, 40.0, "C"),
    (399_800.0, False, True, 39.9, "D"),
    (400_000.0, False, False, 20.0, "D"),
    (399_800.0, False, False, 19.9, "F"),
]


@pytest.mark.parametrize(("zestimate", "ready", "active", "score", "grade"), GRADE_EDGES)
def test_the_grade_changes_exactly_at_each_floor(database: Database, zestimate: float, ready: bool, active: bool,
                                                  score: float, grade: str) -> None:
    def fill(p: Portfolio) -> int:
        home = p.property(price=400_000.0, status="researched", created_at=NOW - days(1 if active else 30))
        p.enrichment(home, zestimate=zestimate, created_at=NOW - days(30))
        if ready:
            p.contact(home, role="seller")
            p.skip_trace(home, created_at=NOW - days(30))
        return home.id

    home = build(database, fill)

    result = run_check(database, rescore_properties)

    rescored = properties(database)[home]
    assert (rescored.deal_score, rescored.score_grade) == (score, grade)
    assert result.data["rescored"] == [{"property": home, "score": score, "grade": grade}]


def test_readiness_counts_the_share_of_required_contracts_signed_and_the_latest_zestimate(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        half = p.property(price=400_000.0, created_at=NOW - days(30))
        p.enrichment(half, zestimate=480_000.0, created_at=NOW - days(20))
        p.enrichment(half, zestimate=400_000.0, created_at=NOW - days(10))  # the latest: at the price
        p.contract(half, status="completed", created_at=NOW - days(30))
        p.contract(half, status="cancelled", created_at=NOW - days(30))
        p.contract(half, status="completed", is_required=False, created_at=NOW - days(30))
        bare = p.property(price=400_000.0, created_at=NOW - days(30))
        p.enrichment(bare, zestimate=None, created_at=NOW - days(10))
        over = p.property(price=400_000.0, created_at=NOW - days(30))
        p.enrichment(over, zestimate=300_000.0, created_at=NOW - days(10))
        return {"half": half.id, "bare": bare.id, "over": over.id}

    ids = build(database, fill)

    run_check(database, rescore_properties)

    scores = {name: properties(database)[pid].deal_score for name, pid in ids.items()}
    assert scores == {"half": 20.0 + 10.0, "bare": 0.0, "over": 0.0}


def test_a_rescore_rerun_writes_nothing_and_never_touches_updated_at(database: Database) -> None:
    def fill(p: Portfolio) -> list[int]:
        homes = [p.property(status="enriched", created_at=NOW - days(20), updated_at=NOW - days(5))
                 for _ in range(3)]
        for home in homes:
            p.enrichment(home, created_at=NOW - days(20))
        p.contact(homes[0], role="buyer")
        return [home.id for home in homes]

    ids = build(database, fill)

    first = run_check(database, rescore_properties)
    after_once = {pid: (home.deal_score, home.score_grade) for pid, home in properties(database).items()}
    with count_statements(database) as statements:
        second = run_check(database, rescore_properties, now=NOW + MINUTE)

    assert (first.metrics, second.metrics) == (
        {"rows_examined": 3, "actions_taken": 3}, {"rows_examined": 3, "actions_taken": 0})
    assert second.data["rescored"] == []
    assert {pid: (home.deal_score, home.score_grade) for pid, home in properties(database).items()} == after_once
    assert after_once[ids[0]] == (30.0, "D")
    assert {home.updated_at for home in properties(database).values()} == {NOW - days(5)}
    assert len(statements) == 1, "nothing changed: only the read"


def test_complete_properties_keep_their_score(database: Database) -> None:
    home = build(database, lambda p: p.property(status="complete", deal_score=91.0, score_grade="A").id)

    result = run_check(database, rescore_properties)

    assert (properties(database)[home].deal_score, result.metrics["rows_examined"]) == (91.0, 0)


# --- closing_probabilities ----------------------------------------------------------


# What a deal's skip trace found.
TRACES: dict[str, dict[str, Any] | None] = {
    "phone only": {"emails": []}, "phone and email": {}, "none": None,
}


def deal(p: Portfolio, *, agent: Any = None, score: float | None = 50.0, roles: tuple[str, ...] = ("seller",),
         trace: str = "phone only", this_week: int = 1, week_before: int = 1,
         address: str = "12 Oak Street", status: str = "researched") -> Property:
    """A listing whose factors are all neutral but its seller (+7.5): 57.5.

    Score 50 (0), no required contract (0), a seller (+7.5), a skip trace
    with a phone but no email (0), one event in each of the last two weeks
    (0), no offers (0). Listed a month ago, so its creation is no activity.
    """
    home = p.property(agent, address=address, deal_score=score, status=status, created_at=NOW - days(30))
    for role in roles:
        p.contact(home, role=role)
    if (found := TRACES[trace]) is not None:
        p.skip_trace(home, **found, created_at=NOW - days(30))
    for i in range(this_week):
        p.note(home, created_at=NOW - days(3) - i * HOUR)
    for i in range(week_before):
        p.note(home, created_at=NOW - days(10) - i * HOUR)
    return home


NEUTRAL = {"deal_score": 0.0, "contracts": 0.0, "key_contact": 7.5, "skip_trace": 0.0, "activity": 0.0, "offers": 0.0}
OLD = NOW - days(30)


def _contracts(*statuses: str) -> Callable[[Portfolio, Property], None]:
    def add(p: Portfolio, home: Property) -> None:
        for status in statuses:
            p.contract(home, status=status, created_at=OLD, completed_at=OLD if status == "completed" else None)
        p.contract(home, status="draft", is_required=False, created_at=OLD)  # optional: never counts

    return add


def _offers(*statuses: str) -> Callable[[Portfolio, Property], None]:
    def add(p: Portfolio, home: Property) -> None:
        for status in statuses:
            p.offer(home, status=status, created_at=OLD)

    return add


def _nothing(p: Portfolio, home: Property) -> None:
    return None


# name → (deal() arguments, what else the deal has, the factor that moves and its points, probability)
FACTOR_EXAMPLES: dict[str, tuple[dict[str, Any], Callable[[Portfolio, Property], None], dict[str, float], float]] = {
    "neutral": ({}, _nothing, {}, 57.5),
    "deal score 100": ({"score": 100.0}, _nothing, {"deal_score": 17.5}, 75.0),
    "deal score 20": ({"score": 20.0}, _nothing, {"deal_score": -10.5}, 47.0),
    "not scored": ({"score": None}, _nothing, {}, 57.5),
    "every required contract signed": ({}, _contracts("completed", "completed"), {"contracts": 12.5}, 70.0),
    "half signed": ({}, _contracts("completed", "cancelled"), {"contracts": 0.0}, 57.5),
    "one of three signed": ({}, _contracts("completed", "sent", "draft"), {"contracts": -4.17}, 53.3),
    "none of one signed": ({}, _contracts("pending_signature"), {"contracts": -12.5}, 45.0),
    "no key contact": ({"roles": ("inspector", "appraiser")}, _nothing, {"key_contact": -7.5}, 42.5),
    "a lawyer is a key contact": ({"roles": ("lawyer",)}, _nothing, {}, 57.5),
    "owner phone and email": ({"trace": "phone and email"}, _nothing, {"skip_trace": 5.0}, 62.5),
    "no skip trace": ({"trace": "none"}, _nothing, {"skip_trace": -5.0}, 52.5),
    "phone and email from two traces": (
        {}, lambda p, home: p.skip_trace(home, phone_numbers=[], created_at=OLD), {"skip_trace": 5.0}, 62.5),
    "busier week": ({"this_week": 4, "week_before": 2}, _nothing, {"activity": 5.0}, 62.5),
    "exactly 1.5 times": ({"this_week": 3, "week_before": 2}, _nothing, {}, 57.5),
    "first activity after a quiet week": ({"this_week": 1, "week_before": 0}, _nothing, {"activity": 5.0}, 62.5),
    "two quiet weeks": ({"this_week": 0, "week_before": 0}, _nothing, {"activity": -5.0}, 52.5),
    "activity 15 days ago is older than both weeks": (
        {"this_week": 0, "week_before": 0}, lambda p, home: p.note(home, created_at=NOW - days(15)),
        {"activity": -5.0}, 52.5),
    "accepted offer": ({}, _offers("accepted"), {"offers": 5.0}, 62.5),
    "submitted offer": ({}, _offers("submitted", "rejected", "rejected", "rejected"), {"offers": 5.0}, 62.5),
    "three rejected": ({}, _offers("rejected", "rejected", "rejected", "withdrawn"), {"offers": -5.0}, 52.5),
    "two rejected": ({}, _offers("rejected", "rejected", "countered"), {}, 57.5),
}


@pytest.mark.parametrize("example", list(FACTOR_EXAMPLES))
def test_each_factor_of_the_closing_probability(database: Database, example: str) -> None:
    arguments, extra, moved, probability = FACTOR_EXAMPLES[example]

    def fill(p: Portfolio) -> int:
        home = deal(p, **arguments)
        extra(p, home)
        snapshot(p, home, 100.0)  # so the run reports the drop with every factor's points
        return home.id

    home = build(database, fill)

    [item] = run_check(database, closing_probabilities).items

    assert snapshots(database)[home].closing_probability == probability
    assert item.data["factors"] == {**NEUTRAL, **moved}
    assert (item.data["from"], item.data["to"]) == (100.0, probability)


def test_the_closing_probability_is_clamped_to_0_and_100(database: Database) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        hopeless = deal(p, score=0.0, roles=(), trace="none", this_week=0, week_before=0)
        _contracts("draft")(p, hopeless)
        _offers("rejected", "rejected", "rejected")(p, hopeless)
        certain = deal(p, score=100.0, trace="phone and email", this_week=2, week_before=0)
        _contracts("completed")(p, certain)
        _offers("accepted")(p, certain)
        return hopeless.id, certain.id

    hopeless, certain = build(database, fill)  # -2.5 and 102.5 before the clamp

    run_check(database, closing_probabilities)

    assert (snapshots(database)[hopeless].closing_probability, snapshots(database)[certain].closing_probability) == (
        0.0, 100.0)


def test_a_drop_of_15_points_is_high_and_of_14_9_is_not(database: Database) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        dropped = deal(p, address="12 Oak Street")
        snapshot(p, dropped, 72.5)
        slipped = deal(p, address="14 Oak Street")
        snapshot(p, slipped, 72.4)
        return dropped.id, slipped.id

    dropped, slipped = build(database, fill)

    result = run_check(database, closing_probabilities)

    [item] = result.items
    assert (item.subject, item.priority) == (f"property:{dropped}", Priority.high)
    assert item.message == "The chance of closing 12 Oak Street fell 15 points, from 72.5 percent to 57.5 percent."
    assert item.affected == {"properties": [dropped]}
    assert {pid: s.closing_probability for pid, s in snapshots(database).items()} == {dropped: 57.5, slipped: 57.5}
    assert result.metrics == {"rows_examined": 2, "actions_taken": 2}


def test_a_drop_names_what_holds_the_deal_back(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        home = deal(p, roles=("inspector",), trace="none", this_week=0, week_before=0)
        _contracts("sent")(p, home)
        snapshot(p, home, 60.0)

    build(database, fill)

    [item] = run_check(database, closing_probabilities).items

    assert item.message == (
        "The chance of closing 12 Oak Street fell 40 points, from 60 percent to 20 percent. Holding it back: no "
        "required contract signed, no buyer, seller, lawyer or lender on file, no skip trace on the owner and no "
        "activity in two weeks.")
    assert item.next_step == "Get the required contracts signed"
    assert item.data["holding_back"] == ["contracts", "key_contact", "skip_trace", "activity"]


def test_a_first_observation_only_records_and_keeps_the_snapshot_price(database: Database) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        unseen = deal(p, address="12 Oak Street")
        priced_only = deal(p, address="14 Oak Street")  # price_changes saw it first, at an older price
        snapshot(p, priced_only, None, price=390_000.0)
        return unseen.id, priced_only.id

    unseen, priced_only = build(database, fill)

    result = run_check(database, closing_probabilities)

    assert result.items == []
    recorded = snapshots(database)
    assert {pid: (s.price, s.closing_probability) for pid, s in recorded.items()} == {
        unseen: (400_000.0, 57.5), priced_only: (390_000.0, 57.5)}
    assert (recorded[unseen].deal_score, recorded[unseen].observed_at) == (50.0, NOW)
    assert result.data["first_observations"] == 2


def test_a_closing_rerun_writes_nothing_and_a_rise_is_recorded_silently(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        home = deal(p)
        snapshot(p, home, 30.0)
        return home.id

    home = build(database, fill)

    first = run_check(database, closing_probabilities)
    with count_statements(database) as statements:
        second = run_check(database, closing_probabilities, now=NOW + MINUTE)

    assert (first.items, second.items) == ([], [])
    assert (first.metrics["actions_taken"], second.metrics["actions_taken"]) == (1, 0)
    assert snapshots(database)[home].updated_at == NOW
    assert len(statements) == 1, "nothing changed: only the read"


def test_complete_properties_get_no_probability(database: Database) -> None:
    build(database, lambda p: deal(p, status="complete"))

    result = run_check(database, closing_probabilities)

    assert (snapshots(database), result.metrics["rows_examined"]) == ({}, 0)


# --- deals_needing_attention --------------------------------------------------------


def _struggling(p: Portfolio, address: str) -> Property:
    """A deal held back by four factors: 50 − 12.5 − 7.5 − 5 − 5 = 20 when recomputed."""
    home = deal(p, address=address, roles=("inspector",), trace="none", this_week=0, week_before=0)
    _contracts("draft")(p, home)
    return home


def test_a_stored_probability_under_40_is_high_with_its_reasons_and_40_is_not(database: Database) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        under = _struggling(p, "12 Oak Street")
        snapshot(p, under, 39.9)
        at = _struggling(p, "14 Oak Street")
        snapshot(p, at, 40.0)
        return under.id, at.id

    under, at = build(database, fill)

    result = run_check(database, deals_needing_attention)

    [item] = result.items
    assert (item.subject, item.priority) == (f"property:{under}", Priority.high)
    assert item.message == (
        "12 Oak Street has only a 39.9 percent chance of closing. Holding it back: no required contract signed, no "
        "buyer, seller, lawyer or lender on file, no skip trace on the owner and no activity in two weeks.")
    assert item.next_step == "Get the required contracts signed"
    assert item.data["factors"] == {"deal_score": 0.0, "contracts": -12.5, "key_contact": -7.5, "skip_trace": -5.0,
                                    "activity": -5.0, "offers": 0.0}
    assert item.data["closing_probability"] == 39.9
    assert result.metrics == {"rows_examined": 2, "actions_taken": 0}


def test_the_reasons_say_a_low_score_partial_signatures_and_rejected_offers(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        home = deal(p, score=20.0)
        _contracts("completed", "draft", "sent")(p, home)
        _offers("rejected", "rejected", "rejected")(p, home)
        snapshot(p, home, 25.0)

    build(database, fill)

    [item] = run_check(database, deals_needing_attention).items

    assert item.message == (
        "12 Oak Street has only a 25 percent chance of closing. Holding it back: a deal score of only 20, 3 offers "
        "rejected and only 1 of 3 required contracts signed.")
    assert item.next_step == "Review the price against the market with the seller"


def test_deals_needing_attention_reads_what_closing_probabilities_stored(database: Database) -> None:
    def fill(p: Portfolio) -> tuple[int, int, int]:
        struggling = _struggling(p, "12 Oak Street")
        healthy = deal(p, address="14 Oak Street")
        closed = _struggling(p, "16 Oak Street")
        closed.status = "complete"
        snapshot(p, closed, 10.0)
        return struggling.id, healthy.id, closed.id

    struggling, healthy, closed = build(database, fill)

    assert run_check(database, deals_needing_attention).items == [], "nothing stored yet"
    run_check(database, closing_probabilities)
    items = by_subject(run_check(database, deals_needing_attention))

    assert list(items) == [f"property:{struggling}"]
    assert items[f"property:{struggling}"].data["closing_probability"] == 20.0


# --- follow_up_queue ----------------------------------------------------------------


def queue_of(database: Database, **settings: Any) -> list[dict[str, Any]]:
    result = run_check(database, follow_up_queue, **settings)
    assert result.items == [], "a ranking, not findings"
    assert result.data["ranking"]["title"] == "Your follow-up list"
    return result.data["ranking"]["entries"]


@pytest.mark.parametrize(("quiet", "score", "priority"), [
    (days(10), 100.0, Priority.urgent),
    (days(9.99), 99.9, Priority.high),
    (days(6), 60.0, Priority.high),
    (days(5.99), 59.9, Priority.medium),
    (days(3), 30.0, Priority.medium),
    (days(2.99), 29.9, Priority.low),
])
def test_the_queue_priority_changes_at_100_60_and_30(database: Database, quiet: timedelta, score: float,
                                                      priority: Priority) -> None:
    home = build(database, lambda p: p.property(score_grade="C", created_at=NOW - quiet).id)

    [entry] = queue_of(database)

    assert (entry["property"], entry["score"], entry["priority"]) == (home, score, priority.value)


@pytest.mark.parametrize(("grade", "score"), [("A", 100.0), ("B", 75.0), ("C", 50.0), ("D", 40.0), ("F", 25.0),
                                              (None, 25.0)])
def test_the_quiet_days_are_weighed_by_the_grade(database: Database, grade: str | None, score: float) -> None:
    build(database, lambda p: p.property(score_grade=grade, created_at=NOW - days(5)))

    [entry] = queue_of(database)

    assert entry["score"] == score


@pytest.mark.parametrize(("quiet", "score"), [(days(29), 580.0), (days(30), 600.0), (days(45), 600.0)])
def test_the_quiet_days_count_up_to_300_points(database: Database, quiet: timedelta, score: float) -> None:
    build(database, lambda p: p.property(score_grade="A", created_at=NOW - quiet))

    [entry] = queue_of(database)

    assert entry["score"] == score


TOUCHES: dict[str, Callable[[Portfolio, Property], Any]] = {
    "tool call": lambda p, home: p.history(home, created_at=NOW - 24 * HOUR),
    "note": lambda p, home: p.note(home, created_at=NOW - 24 * HOUR),
    "contract sent": lambda p, home: p.contract(home, created_at=NOW - days(20), sent_at=NOW - 24 * HOUR),
    "offer": lambda p, home: p.offer(home, created_at=NOW - 24 * HOUR),
}


@pytest.mark.parametrize("kind", list(TOUCHES))
def test_a_property_touched_in_the_last_24_hours_is_not_queued(database: Database, kind: str) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        touched = p.property(created_at=NOW - days(20))
        TOUCHES[kind](p, touched)
        untouched = p.property(created_at=NOW - days(20))
        p.note(untouched, created_at=NOW - 24 * HOUR - MINUTE)
        return touched.id, untouched.id

    touched, untouched = build(database, fill)

    queue = queue_of(database)

    assert [entry["property"] for entry in queue] == [untouched]
    assert [entry["days_inactive"] for entry in queue] == [1.0]


def _quiet_for_two_days(p: Portfolio, **kw: Any) -> Property:
    """Ungraded and quiet for 2 days: 20 × 0.5 = 10 points before any bonus."""
    return p.property(**{"created_at": NOW - days(2), "status": "researched", **kw})


def _contract(**kw: Any) -> Callable[[Portfolio, Property], Any]:
    return lambda p, home: p.contract(home, **{"created_at": NOW - days(2), **kw})


def _follow_up(scheduled_at: Any, on_contact: bool = False) -> Callable[[Portfolio, Property], Any]:
    def add(p: Portfolio, home: Property) -> None:
        about = {"contact_id": p.contact(home, role="seller").id} if on_contact else {"property_id": home.id}
        p.task(task_type="follow_up", scheduled_at=scheduled_at, **about)

    return add


def _follow_up_elsewhere(p: Portfolio, home: Property) -> None:
    """An overdue follow-up with a contact of another property (listed a day ago, so not queued itself)."""
    p.task(task_type="follow_up", scheduled_at=NOW - HOUR, contact_id=p.contact(p.property(), role="seller").id)


def _contact(role: str) -> Callable[[Portfolio, Property], Any]:
    return lambda p, home: p.contact(home, role=role)


# name → (the property, what else it has, its score)
BONUS_EXAMPLES: dict[str, tuple[dict[str, Any], Callable[[Portfolio, Property], Any], float]] = {
    "deadline overdue": ({}, _contract(status="sent", required_by_date=NOW - days(1)), 50.0),
    "deadline in 3 days": ({}, _contract(required_by_date=NOW + days(3)), 50.0),
    "deadline in 3 days and a minute": ({}, _contract(required_by_date=NOW + days(3) + MINUTE), 10.0),
    "deadline of a signed contract": ({}, _contract(status="completed", required_by_date=NOW - days(1)), 10.0),
    "deadline of an optional contract": ({}, _contract(is_required=False, required_by_date=NOW - days(1)), 10.0),
    "overdue follow-up on the property": ({}, _follow_up(NOW - HOUR), 45.0),
    "overdue follow-up on one of its contacts": ({}, _follow_up(NOW - HOUR, on_contact=True), 45.0),
    "follow-up not due yet": ({}, _follow_up(NOW + HOUR), 10.0),
    "overdue follow-up on another property's contact": ({}, _follow_up_elsewhere, 10.0),
    # Quiet since the contract was created: 3 days and a minute → 15 points, and 30 for the contract.
    "unsigned for more than 3 days": (
        {"created_at": NOW - days(10)}, _contract(status="pending_signature", created_at=NOW - days(3) - MINUTE),
        45.0),
    "unsigned for exactly 3 days": (
        {"created_at": NOW - days(10)}, _contract(status="pending_signature", created_at=NOW - days(3)), 15.0),
    "waiting for contracts without a buyer": ({"status": "waiting_for_contracts"}, _contact("seller"), 25.0),
    "waiting for contracts with a buyer": ({"status": "waiting_for_contracts"}, _contact("buyer"), 10.0),
    "no buyer before waiting for contracts": ({"status": "researched"}, _contact("seller"), 10.0),
}


@pytest.mark.parametrize("example", list(BONUS_EXAMPLES))
def test_each_reason_to_call_adds_its_points(database: Database, example: str) -> None:
    home, extra, score = BONUS_EXAMPLES[example]
    build(database, lambda p: extra(p, _quiet_for_two_days(p, **home)))

    [entry] = queue_of(database)

    assert entry["score"] == score


def test_a_queued_entry_names_the_address_its_biggest_reasons_and_the_next_step(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        home = p.property(address="12 Oak Street", status="waiting_for_contracts", score_grade="B",
                          created_at=NOW - days(20))
        seller = p.contact(home, role="seller")
        p.contract(home, status="sent", created_at=NOW - days(5), required_by_date=NOW + days(1))
        p.task(task_type="follow_up", contact_id=seller.id, scheduled_at=NOW - days(1))
        return home.id

    home = build(database, fill)

    [entry] = queue_of(database)

    assert entry == {
        "rank": 1, "property": home, "address": "12 Oak Street", "score": 195.0, "priority": "urgent",
        "days_inactive": 5.0,
        "message": "12 Oak Street: no activity in 5 days and a contract deadline is close or past.",
        "next_step": "Call the seller for an update",
        "reasons": ["no activity in 5 days", "a contract deadline is close or past", "a follow-up is overdue",
                    "a required contract has been unsigned for over 3 days",
                    "it is waiting for contracts with no buyer on file"],
        "points": {"quiet": 75.0, "deadline_close": 40.0, "follow_up_overdue": 35.0, "unsigned_too_long": 30.0,
                   "no_buyer_while_waiting": 15.0},
        "affected_properties": [home],
    }


def test_the_queue_keeps_the_top_ten_by_score_then_id(database: Database) -> None:
    def fill(p: Portfolio) -> list[int]:
        by_quiet_days = {n: p.property(score_grade="C", created_at=NOW - days(n)).id for n in range(2, 13)}
        tie = p.property(score_grade="C", created_at=NOW - days(12)).id  # as quiet as the first, a later id
        p.property(status="complete", created_at=NOW - days(90))
        return [by_quiet_days[12], tie] + [by_quiet_days[n] for n in range(11, 3, -1)]

    top_ten = build(database, fill)

    result = run_check(database, follow_up_queue)

    entries = result.data["ranking"]["entries"]
    assert [(entry["rank"], entry["property"]) for entry in entries] == list(enumerate(top_ten, 1))
    assert entries[-1]["message"].endswith(": no activity in 4 days.")
    assert result.metrics == {"rows_examined": 12, "actions_taken": 0}


# --- every check: agent scope and statement count -----------------------------------


def _to_rescore(p: Portfolio, agent: Any) -> None:
    home = p.property(agent, status="enriched")
    p.enrichment(home)
    p.contact(home, role="seller")


def _to_estimate(p: Portfolio, agent: Any) -> None:
    snapshot(p, deal(p, agent=agent), 100.0)
    deal(p, agent=agent)


def _in_trouble(p: Portfolio, agent: Any) -> None:
    home = p.property(agent, created_at=NOW - days(30))
    snapshot(p, home, 25.0)


def _to_follow_up(p: Portfolio, agent: Any) -> None:
    home = p.property(agent, created_at=NOW - days(4), status="waiting_for_contracts")
    p.task(task_type="follow_up", property_id=home.id, scheduled_at=NOW - HOUR)


def _recorded(database: Database) -> dict[int, tuple[float | None, Any]]:
    return {pid: (s.closing_probability, s.updated_at) for pid, s in snapshots(database).items()}


def _touched(result: CheckResult, recorded_before: dict[int, Any], recorded_after: dict[int, Any]) -> set[int]:
    """Every property a run reported, re-scored or wrote a snapshot for."""
    touched = {pid for item in result.items for pid in item.affected["properties"]}
    touched |= {pid for entry in result.data.get("ranking", {}).get("entries", []) for pid in entry["affected_properties"]}
    touched |= {entry["property"] for entry in result.data.get("rescored", [])}
    return touched | {pid for pid, state in recorded_after.items() if recorded_before.get(pid) != state}


CHECKS = [
    (rescore_properties, _to_rescore), (closing_probabilities, _to_estimate),
    (deals_needing_attention, _in_trouble), (follow_up_queue, _to_follow_up),
]
CHECK_IDS = [handler.__name__ for handler, _ in CHECKS]


@pytest.mark.parametrize(("handler", "situation"), CHECKS, ids=CHECK_IDS)
def test_another_agents_properties_never_appear(database: Database, handler: Any, situation: Any) -> None:
    def fill(p: Portfolio) -> tuple[int, set[int]]:
        mine, theirs = p.agent(), p.agent()
        situation(p, mine)
        situation(p, theirs)
        return mine.id, set(p.session.scalars(select(Property.id).where(Property.agent_id == mine.id)))

    agent, my_homes = build(database, fill)
    recorded = _recorded(database)

    result = run_check(database, handler, agent_id=agent)

    touched = _touched(result, recorded, _recorded(database))
    assert touched and touched <= my_homes


@pytest.mark.parametrize(("handler", "situation"), CHECKS, ids=CHECK_IDS)
def test_statement_count_does_not_grow_with_the_portfolio(database: Database, handler: Any, situation: Any) -> None:
    small, large, result = statements_small_and_large(database, handler, one_agent_with(situation), later=NOW + MINUTE)

    assert small == large
    assert result.metrics["rows_examined"] >= 30


# --- two replicas on PostgreSQL -----------------------------------------------------


@pytest.mark.postgres
def test_two_replicas_rescore_each_property_once(postgres: Database) -> None:
    def fill(p: Portfolio) -> None:
        agent = p.agent()
        for _ in range(20):
            _to_rescore(p, agent)

    for round_ in range(3):
        build(postgres, fill)

        results = run_together(postgres, rescore_properties, "UPDATE PROPERTIES")

        rescored = [entry["property"] for r in results for entry in r.data["rescored"]]
        assert len(rescored) == len(set(rescored)) == 20
        assert sum(r.metrics["actions_taken"] for r in results) == 20
        scores = {(home.deal_score, home.score_grade) for home in properties(postgres).values()}
        assert scores == {(50.0, "C")}, f"round {round_}"
        assert run_check(postgres, rescore_properties).metrics["actions_taken"] == 0


@pytest.mark.postgres
def test_two_replicas_record_each_probability_once_and_report_each_drop_once(postgres: Database) -> None:
    def fill(p: Portfolio) -> tuple[set[int], set[int]]:
        dropped = [deal(p, address=f"{n} Elm Road") for n in range(10)]
        for home in dropped:
            snapshot(p, home, 90.0)
        unseen = [deal(p, address=f"{n} Pine Road") for n in range(10)]
        return {home.id for home in dropped}, {home.id for home in unseen}

    recorded: set[int] = set()
    for round_ in range(3):
        dropped, unseen = build(postgres, fill)
        recorded |= dropped | unseen

        results = run_together(postgres, closing_probabilities,
                               ("INSERT INTO PROPERTY_SNAPSHOTS", "UPDATE PROPERTY_SNAPSHOTS"))

        reported = [item.subject for r in results for item in r.items]
        assert sorted(reported) == sorted(f"property:{pid}" for pid in dropped), f"round {round_}"
        assert sum(r.metrics["actions_taken"] for r in results) == 20
        assert {pid: s.closing_probability for pid, s in snapshots(postgres).items()} == dict.fromkeys(recorded, 57.5)
        assert run_check(postgres, closing_probabilities).metrics["actions_taken"] == 0
