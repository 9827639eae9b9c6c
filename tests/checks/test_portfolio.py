"""Portfolio monitoring: stale listings, contract deadlines, unsigned contracts, pipeline moves, neglected top deals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from checks.portfolio import (
    contract_deadlines, high_score_no_action, pipeline_advancement, stale_properties, unsigned_contracts,
)
from checks.schema import STALE_AFTER_DAYS, ConversationHistory, Notification, Property
from heartbeat_mcp.database import Database
from heartbeat_mcp.models import TaskConfig
from heartbeat_mcp.task import CheckContext, HostInfo, Priority
from tests.factories import (
    NOW, Portfolio, build, by_subject, days, one_agent_with, run_check, run_together, settings,
    statements_small_and_large,
)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def statuses(database: Database) -> dict[int, str]:
    with database.sessions() as session:
        return {pid: status for pid, status in session.execute(select(Property.id, Property.status))}


def notifications(database: Database) -> list[Notification]:
    with database.sessions() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def advance_log(database: Database) -> list[ConversationHistory]:
    with database.sessions() as session:
        return list(session.scalars(
            select(ConversationHistory).where(ConversationHistory.tool_name == "heartbeat_pipeline_advance")
            .order_by(ConversationHistory.id)
        ))


# --- stale_properties ---------------------------------------------------------------


@pytest.mark.parametrize("stage", list(STALE_AFTER_DAYS))
def test_a_property_is_stale_just_past_its_stages_threshold_and_not_at_it(database: Database, stage: str) -> None:
    limit = days(STALE_AFTER_DAYS[stage])
    at_limit, past = build(database, lambda p: (
        p.property(status=stage, created_at=NOW - limit).id,
        p.property(status=stage, created_at=NOW - limit - MINUTE).id,
    ))

    items = by_subject(run_check(database, stale_properties))

    assert list(items) == [f"property:{past}"]
    assert items[f"property:{past}"].priority == Priority.medium


def test_past_twice_the_threshold_is_high(database: Database) -> None:
    twice, beyond = build(database, lambda p: (
        p.property(status="enriched", created_at=NOW - days(10)).id,
        p.property(status="enriched", created_at=NOW - days(10) - MINUTE).id,
    ))

    items = by_subject(run_check(database, stale_properties))

    assert (items[f"property:{twice}"].priority, items[f"property:{beyond}"].priority) == (Priority.medium, Priority.high)


ACTIVITY: dict[str, Callable[[Portfolio, Property], Any]] = {
    "tool call": lambda p, home: p.history(home, created_at=NOW - days(1)),
    "note": lambda p, home: p.note(home, created_at=NOW - days(1)),
    "contract created": lambda p, home: p.contract(home, created_at=NOW - days(1)),
    "contract sent": lambda p, home: p.contract(home, created_at=NOW - days(30), sent_at=NOW - days(1)),
    "contract completed": lambda p, home: p.contract(
        home, status="completed", created_at=NOW - days(30), sent_at=NOW - days(29), completed_at=NOW - days(1)),
    "offer": lambda p, home: p.offer(home, created_at=NOW - days(1)),
}


@pytest.mark.parametrize("kind", list(ACTIVITY))
def test_every_kind_of_activity_keeps_a_property_fresh(database: Database, kind: str) -> None:
    def fill(p: Portfolio) -> int:
        busy = p.property(status="researched", created_at=NOW - days(30))
        ACTIVITY[kind](p, busy)
        return p.property(status="researched", created_at=NOW - days(30)).id

    quiet = build(database, fill)

    assert list(by_subject(run_check(database, stale_properties))) == [f"property:{quiet}"]


@pytest.mark.parametrize("stage", list(STALE_AFTER_DAYS))
def test_a_note_decides_at_its_stages_threshold_whatever_the_shortest_threshold(database: Database, stage: str) -> None:
    """Notes since the shortest threshold are set aside first: the rule must hold on both sides of it, per stage."""
    limit, shortest = days(STALE_AFTER_DAYS[stage]), days(min(STALE_AFTER_DAYS.values()))

    def noted(p: Portfolio, at: Any) -> int:
        home = p.property(status=stage, created_at=NOW - days(90))
        p.note(home, created_at=at)
        return home.id

    at_limit, past, at_shortest, before_shortest = build(database, lambda p: (
        noted(p, NOW - limit), noted(p, NOW - limit - MINUTE), noted(p, NOW - shortest),
        noted(p, NOW - shortest - MINUTE),
    ))

    stale = set(by_subject(run_check(database, stale_properties)))

    assert f"property:{at_limit}" not in stale and f"property:{at_shortest}" not in stale
    assert f"property:{past}" in stale
    assert (f"property:{before_shortest}" in stale) == (limit == shortest)


def test_an_overridden_shorter_threshold_sets_aside_only_the_notes_within_it(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        quiet, noted = (p.property(status="new_property", created_at=NOW - days(90)) for _ in range(2))
        p.note(quiet, created_at=NOW - days(1) - MINUTE)
        p.note(noted, created_at=NOW - days(1))
        return quiet.id

    quiet = build(database, fill)

    with database.transaction() as session:
        ctx = CheckContext(task="stale_properties", now=NOW, settings=settings(), database=database, host=HostInfo(),
                           session=session, options={"stale_after_days": {"new_property": 1}})
        result = stale_properties(ctx)

    assert list(by_subject(result)) == [f"property:{quiet}"]


def test_complete_properties_and_unknown_statuses_are_never_stale(database: Database) -> None:
    build(database, lambda p: [p.property(status=s, created_at=NOW - days(90)) for s in ("complete", "on_hold")])

    result = run_check(database, stale_properties)

    assert result.items == []
    assert result.metrics == {"rows_examined": 0, "actions_taken": 0}


def test_the_stale_message_names_the_address_the_quiet_days_and_the_limit(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        home = p.property(address="742 Evergreen Terrace", status="enriched", created_at=NOW - days(40))
        p.note(home, created_at=NOW - days(8) - HOUR)

    build(database, fill)

    [item] = run_check(database, stale_properties).items
    assert item.message == "742 Evergreen Terrace has had no activity in 8 days, past the 5-day limit for enriched listings."
    assert item.next_step == "Run a skip trace on the owner"


def test_stage_thresholds_can_be_overridden_by_the_checks_options(database: Database) -> None:
    quick = build(database, lambda p: p.property(status="new_property", created_at=NOW - days(1) - MINUTE).id)

    with database.transaction() as session:
        ctx = CheckContext(task="stale_properties", now=NOW, settings=settings(), database=database, host=HostInfo(),
                           session=session, options={"stale_after_days": {"new_property": 1}})
        result = stale_properties(ctx)

    assert list(by_subject(result)) == [f"property:{quick}"]
    assert run_check(database, stale_properties).items == []


# --- contract_deadlines -------------------------------------------------------------


def test_a_deadline_passed_is_urgent_and_one_within_three_days_is_high(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        home = p.property(status="waiting_for_contracts")
        return {name: p.contract(home, required_by_date=NOW + offset).id for name, offset in {
            "just_passed": -MINUTE, "due_now": timedelta(0), "in_three_days": days(3), "later": days(3) + MINUTE,
        }.items()}

    ids = build(database, fill)

    items = by_subject(run_check(database, contract_deadlines))

    assert {subject: item.priority for subject, item in items.items()} == {
        f"contract:{ids['just_passed']}": Priority.urgent,
        f"contract:{ids['due_now']}": Priority.high,
        f"contract:{ids['in_three_days']}": Priority.high,
    }


def test_settled_optional_undated_and_closed_deal_contracts_have_no_deadline_to_chase(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        home, closed = p.property(status="waiting_for_contracts"), p.property(status="complete")
        for status in ("completed", "cancelled", "expired", "archived"):
            p.contract(home, status=status, required_by_date=NOW - days(1))
        p.contract(home, is_required=False, required_by_date=NOW - days(1))
        p.contract(home, required_by_date=None)
        p.contract(closed, required_by_date=NOW - days(1))

    build(database, fill)

    result = run_check(database, contract_deadlines)

    assert result.items == []
    assert result.metrics["rows_examined"] == 0


def test_deadline_messages_count_days_on_the_agents_calendar(database: Database) -> None:
    # NOW is 08:00 in New York. 03:00 UTC today was 23:00 there yesterday.
    def fill(p: Portfolio) -> dict[str, int]:
        home = p.property(address="12 Oak Street", status="waiting_for_contracts")
        pat = p.contact(home, name="Pat Lee")
        return {
            "late_evening": p.contract(home, name="Purchase Agreement", contact_id=pat.id,
                                       required_by_date=NOW - 9 * HOUR).id,
            "two_days": p.contract(home, name="Seller Disclosure", required_by_date=NOW - days(2)).id,
            "tomorrow": p.contract(home, name="Inspection Addendum", required_by_date=NOW + days(1)).id,
        }

    ids = build(database, fill)

    new_york = by_subject(run_check(database, contract_deadlines, timezone="America/New_York"))
    utc = by_subject(run_check(database, contract_deadlines))

    assert new_york[f"contract:{ids['late_evening']}"].message == (
        "The Purchase Agreement for 12 Oak Street, with Pat Lee, is overdue by 1 day.")
    assert utc[f"contract:{ids['late_evening']}"].message == (
        "The Purchase Agreement for 12 Oak Street, with Pat Lee, was due earlier today.")
    assert utc[f"contract:{ids['two_days']}"].message == "The Seller Disclosure for 12 Oak Street is overdue by 2 days."
    assert utc[f"contract:{ids['tomorrow']}"].message == "The Inspection Addendum for 12 Oak Street is due tomorrow."
    assert new_york[f"contract:{ids['late_evening']}"].next_step == (
        "Call Pat Lee to get it signed or agree a new deadline")
    assert set(new_york[f"contract:{ids['late_evening']}"].affected) == {"properties", "contracts", "contacts"}


# --- unsigned_contracts -------------------------------------------------------------


def test_a_required_contract_is_unsigned_after_more_than_three_days(database: Database) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        home = p.property(status="researched")
        return (p.contract(home, status="sent", created_at=NOW - days(3)).id,
                p.contract(home, status="sent", created_at=NOW - days(3) - MINUTE).id)

    exactly, past = build(database, fill)

    items = by_subject(run_check(database, unsigned_contracts))

    assert list(items) == [f"contract:{past}"]
    assert items[f"contract:{past}"].priority == Priority.medium


def test_an_unsigned_contract_is_high_when_the_deal_waits_for_contracts(database: Database) -> None:
    waiting = build(database, lambda p: p.contract(
        p.property(status="waiting_for_contracts"), status="pending_signature", created_at=NOW - days(5)).id)

    [item] = run_check(database, unsigned_contracts).items

    assert (item.subject, item.priority) == (f"contract:{waiting}", Priority.high)


def test_signed_settled_optional_and_closed_deal_contracts_are_not_unsigned(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        home, closed = p.property(status="waiting_for_contracts"), p.property(status="complete")
        old = NOW - days(10)
        for status in ("completed", "cancelled", "expired", "archived"):
            p.contract(home, status=status, created_at=old)
        p.contract(home, is_required=False, created_at=old)
        p.contract(closed, created_at=old)

    build(database, fill)

    assert run_check(database, unsigned_contracts).items == []


@pytest.mark.parametrize(("status", "said", "next_step"), [
    ("draft", "is still a draft", "Send it out for signature"),
    ("sent", "was sent but is not signed", "Follow up with Pat Lee"),
    ("in_progress", "is only partly signed", "Follow up with Pat Lee"),
    ("pending_signature", "is still waiting for signatures", "Follow up with Pat Lee"),
])
def test_the_unsigned_message_says_how_far_the_contract_got(
    database: Database, status: str, said: str, next_step: str,
) -> None:
    def fill(p: Portfolio) -> None:
        home = p.property(address="12 Oak Street", status="researched")
        pat = p.contact(home, name="Pat Lee", role="seller")
        p.contract(home, name="Listing Agreement", status=status, contact_id=pat.id, created_at=NOW - days(5) - HOUR)

    build(database, fill)

    [item] = run_check(database, unsigned_contracts).items
    assert item.message == f"The Listing Agreement for 12 Oak Street, with Pat Lee, {said} after 5 days."
    assert item.next_step == next_step


# --- pipeline_advancement -----------------------------------------------------------

EVIDENCE: dict[str, Callable[[Portfolio, Property], Any]] = {
    "new_property": lambda p, home: p.enrichment(home),
    "enriched": lambda p, home: p.skip_trace(home),
    "researched": lambda p, home: p.contract(home, status="draft", is_required=False),
    "waiting_for_contracts": lambda p, home: p.contract(home, status="completed", completed_at=NOW - HOUR),
}


@pytest.mark.parametrize(("stage", "next_stage"), [
    ("new_property", "enriched"), ("enriched", "researched"),
    ("researched", "waiting_for_contracts"), ("waiting_for_contracts", "complete"),
])
def test_a_property_advances_when_its_next_stages_condition_holds(database: Database, stage: str, next_stage: str) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        ready, bare = p.property(status=stage), p.property(status=stage)
        EVIDENCE[stage](p, ready)
        return ready.id, bare.id

    ready, bare = build(database, fill)

    result = run_check(database, pipeline_advancement)

    assert statuses(database) == {ready: next_stage, bare: stage}
    assert result.metrics["actions_taken"] == 1
    assert result.data["advanced"] == [{"property": ready, "from": stage, "to": next_stage}]
    assert result.items == []


def test_completion_needs_a_required_contract_and_every_required_one_completed(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        optional_only, one_open, all_done = (p.property(status="waiting_for_contracts") for _ in range(3))
        p.contract(optional_only, status="completed", is_required=False)
        p.contract(one_open, status="completed")
        p.contract(one_open, status="pending_signature")
        p.contract(all_done, status="completed")
        p.contract(all_done, status="completed")
        p.contract(all_done, status="cancelled", is_required=False)
        return {"optional_only": optional_only.id, "one_open": one_open.id, "all_done": all_done.id}

    ids = build(database, fill)

    run_check(database, pipeline_advancement)

    now = statuses(database)
    assert [now[ids[k]] for k in ("optional_only", "one_open", "all_done")] == [
        "waiting_for_contracts", "waiting_for_contracts", "complete"]


def test_a_property_ready_for_several_stages_goes_all_the_way_with_one_notification(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        home = p.property(address="12 Oak Street", status="new_property")
        p.enrichment(home)
        p.skip_trace(home)
        p.contract(home, status="completed")
        return home.id

    home = build(database, fill)

    result = run_check(database, pipeline_advancement)

    assert statuses(database) == {home: "complete"}
    assert result.data["advanced"] == [{"property": home, "from": "new_property", "to": "complete"}]
    [note] = notifications(database)
    assert (note.type, note.priority, note.title) == ("pipeline_auto_advance", "medium", "Pipeline advanced")
    assert note.message == "12 Oak Street moved from new to complete."
    assert (note.property_id, note.data) == (home, {"from": "new_property", "to": "complete"})
    [log] = advance_log(database)
    assert (log.property_id, log.input_summary, log.created_at) == (
        home, "Advanced 12 Oak Street from new_property to complete", NOW)


def test_each_advance_records_the_agent_and_the_time(database: Database) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        agent = p.agent()
        home = p.property(agent, status="new_property", updated_at=NOW - days(2))
        p.enrichment(home)
        return agent.id, home.id

    agent, home = build(database, fill)

    run_check(database, pipeline_advancement)

    [note] = notifications(database)
    assert (note.agent_id, note.created_at, note.is_read, note.is_dismissed) == (agent, NOW, False, False)
    with database.sessions() as session:
        assert session.get(Property, home).updated_at == NOW


def test_a_status_set_by_hand_within_24_hours_is_left_alone(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        def ready(summary: str, ago: timedelta) -> int:
            home = p.property(status="new_property")
            p.enrichment(home)
            p.history(home, "update_property", input_summary=summary, created_at=NOW - ago)
            return home.id

        return {
            "held": ready("Set STATUS of 12 Oak Street to new_property", 24 * HOUR - MINUTE),
            "hold_over": ready("Set status of 14 Oak Street to new_property", 24 * HOUR),
            "price_edit": ready("Updated the price of 16 Oak Street to $410,000", HOUR),
        }

    ids = build(database, fill)

    result = run_check(database, pipeline_advancement)

    now = statuses(database)
    assert [now[ids[k]] for k in ("held", "hold_over", "price_edit")] == ["new_property", "enriched", "enriched"]
    assert result.data["held_by_hand"] == 1
    assert result.items == [], "held for one run is not stuck yet"


def test_running_twice_gives_the_same_result_as_once(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        for stage, evidence in EVIDENCE.items():
            evidence(p, p.property(status=stage))

    build(database, fill)

    first = run_check(database, pipeline_advancement)
    after_once = (statuses(database), len(notifications(database)), len(advance_log(database)))
    second = run_check(database, pipeline_advancement, now=NOW + 5 * MINUTE)

    assert (first.metrics["actions_taken"], second.metrics["actions_taken"]) == (4, 0)
    assert (statuses(database), len(notifications(database)), len(advance_log(database))) == after_once
    assert after_once[1:] == (4, 4)


def record_previous_run(database: Database, at: datetime) -> None:
    """What the engine writes after each run of the check: its last_run_at."""
    with database.transaction() as session:
        session.add(TaskConfig(task_name="pipeline_advancement", last_run_at=at, created_at=at, updated_at=at))


def test_a_held_property_ready_since_before_the_previous_run_is_reported_stuck(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        def held(address: str, set_by_hand: timedelta, skip_traced: timedelta) -> int:
            home = p.property(address=address, status="enriched", updated_at=NOW - set_by_hand)
            p.history(home, "update_property", input_summary="Set status to enriched", created_at=NOW - set_by_hand)
            p.skip_trace(home, created_at=NOW - skip_traced)
            return home.id

        return {
            "stuck": held("12 Oak Street", set_by_hand=3 * HOUR, skip_traced=days(2)),
            "evidence_since_last_run": held("14 Oak Street", set_by_hand=3 * HOUR, skip_traced=MINUTE),
            "changed_since_last_run": held("16 Oak Street", set_by_hand=MINUTE, skip_traced=days(2)),
        }

    ids = build(database, fill)
    record_previous_run(database, NOW - 5 * MINUTE)

    items = by_subject(run_check(database, pipeline_advancement))

    [item] = items.values()
    assert (item.subject, item.priority) == (f"property:{ids['stuck']}", Priority.high)
    assert item.message == ("12 Oak Street has been ready to move from enriched to researched for 3 hours, "
                            "but its status was set by hand in the last day, so I have left it.")
    assert item.next_step == "Move it from enriched to researched yourself, or confirm it should stay enriched"
    assert statuses(database)[ids["stuck"]] == "enriched"


def test_nothing_is_stuck_before_the_check_has_run_once(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        home = p.property(status="enriched", updated_at=NOW - days(1))
        p.history(home, "update_property", input_summary="Set status to enriched", created_at=NOW - 3 * HOUR)
        p.skip_trace(home, created_at=NOW - days(2))

    build(database, fill)

    assert run_check(database, pipeline_advancement).items == []


# --- high_score_no_action -----------------------------------------------------------


def test_a_high_score_with_no_contracts_and_three_quiet_days_is_high(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        def home(score: float | None, quiet: timedelta, status: str = "enriched") -> int:
            return p.property(deal_score=score, status=status, created_at=NOW - quiet).id

        with_contract = p.property(deal_score=95.0, status="researched", created_at=NOW - days(9))
        p.contract(with_contract, status="cancelled", is_required=False, created_at=NOW - days(9))
        return {
            "flagged": home(80.0, days(3) + MINUTE),
            "score_below": home(79.9, days(10)),
            "unscored": home(None, days(10)),
            "quiet_exactly_three_days": home(90.0, days(3)),
            "complete": home(95.0, days(10), status="complete"),
        }

    ids = build(database, fill)

    items = by_subject(run_check(database, high_score_no_action))

    assert {subject: item.priority for subject, item in items.items()} == {f"property:{ids['flagged']}": Priority.high}


def test_the_high_score_message_names_the_address_score_and_quiet_days(database: Database) -> None:
    build(database, lambda p: p.property(address="12 Oak Street", deal_score=87.4, created_at=NOW - days(4) - HOUR))

    [item] = run_check(database, high_score_no_action).items

    assert item.message == "12 Oak Street scores 87 but has no contracts and no activity in 4 days."


# --- every check: agent scope and statement count -----------------------------------


def _stale(p: Portfolio, agent: Any) -> None:
    p.property(agent, status="new_property", created_at=NOW - days(8))


def _deadline(p: Portfolio, agent: Any) -> None:
    p.contract(p.property(agent, status="waiting_for_contracts"), required_by_date=NOW - days(1))


def _unsigned(p: Portfolio, agent: Any) -> None:
    p.contract(p.property(agent, status="waiting_for_contracts"), status="sent", created_at=NOW - days(5))


def _ready_to_advance(p: Portfolio, agent: Any) -> None:
    home = p.property(agent, status="new_property")
    p.enrichment(home)
    p.skip_trace(home)


def _neglected(p: Portfolio, agent: Any) -> None:
    p.property(agent, status="researched", deal_score=90.0, created_at=NOW - days(4))


CHECKS = [
    (stale_properties, _stale), (contract_deadlines, _deadline), (unsigned_contracts, _unsigned),
    (pipeline_advancement, _ready_to_advance), (high_score_no_action, _neglected),
]
CHECK_IDS = [handler.__name__ for handler, _ in CHECKS]


@pytest.mark.parametrize(("handler", "situation"), CHECKS, ids=CHECK_IDS)
def test_another_agents_properties_never_appear(database: Database, handler: Any, situation: Any) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        mine, theirs = p.agent(), p.agent()
        situation(p, mine)
        situation(p, theirs)
        mine_ids = {home.id for home in p.session.scalars(select(Property).where(Property.agent_id == mine.id))}
        return mine.id, mine_ids.pop()

    agent, my_home = build(database, fill)

    result = run_check(database, handler, agent_id=agent)

    touched = {pid for item in result.items for pid in item.affected["properties"]}
    touched |= {move["property"] for move in result.data.get("advanced", [])}
    assert touched == {my_home}


@pytest.mark.parametrize(("handler", "situation"), CHECKS, ids=CHECK_IDS)
def test_statement_count_does_not_grow_with_the_portfolio(database: Database, handler: Any, situation: Any) -> None:
    small, large, result = statements_small_and_large(database, handler, one_agent_with(situation))

    assert small == large
    assert len(result.items) + result.metrics["actions_taken"] >= 30


# --- pipeline_advancement with two replicas on PostgreSQL ---------------------------


@pytest.mark.postgres
def test_two_replicas_at_the_same_moment_advance_and_notify_each_property_once(postgres: Database) -> None:
    def fill(p: Portfolio) -> None:
        agent = p.agent()
        for i in range(10):
            home = p.property(agent, status="new_property")
            p.enrichment(home)
            if i % 2:
                p.skip_trace(home)
            p.contract(p.property(agent, status="waiting_for_contracts"), status="completed")

    for round_ in range(3):
        build(postgres, fill)

        results = run_together(postgres, pipeline_advancement, "UPDATE PROPERTIES")

        assert sum(r.metrics["actions_taken"] for r in results) == 20
        moved = [move["property"] for r in results for move in r.data["advanced"]]
        assert len(moved) == len(set(moved)) == 20
        notified = [n.property_id for n in notifications(postgres)]
        logged = [row.property_id for row in advance_log(postgres)]
        assert len(notified) == len(set(notified)) == len(logged) == len(set(logged)) == 20 * (round_ + 1)
        rounds = round_ + 1
        assert Counter(statuses(postgres).values()) == {
            "enriched": 5 * rounds, "researched": 5 * rounds, "complete": 10 * rounds}
