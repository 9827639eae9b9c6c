"""Relationship health: scores and their snapshots, cooling relationships, overdue follow-ups, silent key contacts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from checks.relationships import (
    contacts_needing_outreach, cooling_relationships, overdue_follow_ups, relationship_scores,
)
from checks.schema import (
    KEY_CONTACT_ROLES, Contact, NoteMention, Property, PropertyNote, RelationshipScoreSnapshot, ScoredContact,
)
from checks.seed import seed_portfolio
from heartbeat_mcp.database import Database
from heartbeat_mcp.task import CheckResult, Priority
from tests.factories import (
    NOW, Portfolio, build, by_subject, days, one_agent_with, run_check, statements_small_and_large,
)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def snapshots(database: Database) -> list[RelationshipScoreSnapshot]:
    with database.sessions() as session:
        return list(session.scalars(
            select(RelationshipScoreSnapshot).order_by(RelationshipScoreSnapshot.scored_at,
                                                       RelationshipScoreSnapshot.contact_id)))


def latest_snapshot(database: Database, contact_id: int) -> RelationshipScoreSnapshot:
    return [s for s in snapshots(database) if s.contact_id == contact_id][-1]


def scored(p: Portfolio, contact: Contact, score: float, at: datetime, days_since_last: float | None = None) -> None:
    """A snapshot and the contact's scored_contacts row as relationship_scores writes them (only the parts cooling
    reads are meaningful)."""
    snapshot = RelationshipScoreSnapshot(
        contact_id=contact.id, score=score, scored_at=at,
        components={"recency": 0.0, "frequency": 0.0, "responsiveness": 0.0, "breadth": 0.0, "interactions": 0,
                    "days_since_last": days_since_last},
    )
    p.session.add(snapshot)
    p.session.flush()
    latest = p.session.get(ScoredContact, contact.id)
    if latest is None:
        latest = ScoredContact(contact_id=contact.id, property_id=contact.property_id, name=contact.name.lower())
        p.session.add(latest)
    latest.previous_score, latest.score = latest.score, score
    p.session.flush()


# --- what counts as an interaction (scores and outreach share it) -------------------

INTERACTIONS: dict[str, Callable[[Portfolio, Property, Contact], Any]] = {
    "note naming them in another case": lambda p, home, pat: p.note(home, "Left a message for PAT LEE"),
    "contract linked to them": lambda p, home, pat: p.contract(home, contact_id=pat.id),
    "contract sent to them": lambda p, home, pat: p.contract(
        home, contact_id=pat.id, status="sent", created_at=NOW - days(60), sent_at=NOW - days(1)),
    "offer they made as buyer": lambda p, home, pat: p.offer(home, buyer_contact_id=pat.id),
}
NOT_INTERACTIONS: dict[str, Callable[[Portfolio, Property, Contact], Any]] = {
    "note not naming them": lambda p, home, pat: p.note(home, "Left a message for the lender"),
    "note naming them on another property": lambda p, home, pat: p.note(p.property(), "Showed Pat Lee around"),
    "contract of someone else": lambda p, home, pat: p.contract(home, contact_id=p.contact(home, name="Kim Wu").id),
    "offer by someone else": lambda p, home, pat: p.offer(home, buyer_contact_id=p.contact(home, name="Kim Wu").id),
}
ALL_KINDS = {**{k: (v, True) for k, v in INTERACTIONS.items()}, **{k: (v, False) for k, v in NOT_INTERACTIONS.items()}}


def _pat_with(kind: str) -> Callable[[Portfolio], int]:
    def fill(p: Portfolio) -> int:
        home = p.property(address="12 Oak Street")
        pat = p.contact(home, name="Pat Lee", role="lender", created_at=NOW - days(60))
        ALL_KINDS[kind][0](p, home, pat)
        return pat.id

    return fill


@pytest.mark.parametrize("kind", list(ALL_KINDS))
def test_each_kind_of_interaction_is_scored_and_nothing_else_is(database: Database, kind: str) -> None:
    pat = build(database, _pat_with(kind))

    run_check(database, relationship_scores)

    assert latest_snapshot(database, pat).components["interactions"] == (1 if ALL_KINDS[kind][1] else 0)


@pytest.mark.parametrize("kind", list(ALL_KINDS))
def test_each_kind_of_interaction_ends_a_silence_and_nothing_else_does(database: Database, kind: str) -> None:
    pat = build(database, _pat_with(kind))

    reported = list(by_subject(run_check(database, contacts_needing_outreach)))

    assert reported == ([] if ALL_KINDS[kind][1] else [f"contact:{pat}"])


# --- relationship_scores ------------------------------------------------------------


def test_the_score_is_recency_plus_frequency_plus_responsiveness_plus_breadth(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        home = p.property()
        pat = p.contact(home, name="Pat Lee", created_at=NOW - days(90))
        p.note(home, "pat lee called back about the inspection", source="phone_call",
               created_at=NOW - days(10) - 6 * HOUR)
        p.contract(home, contact_id=pat.id, status="sent", created_at=NOW - days(20), sent_at=NOW - days(12))
        p.note(home, "Pat Lee viewed the house", created_at=NOW - days(30) - MINUTE)  # before the window
        p.note(home, "Pat Lee to sign next week", created_at=NOW + HOUR)  # not yet
        p.note(home, "Called the title company", created_at=NOW - days(1))  # not about Pat
        return pat.id

    pat = build(database, fill)

    run_check(database, relationship_scores)

    [snapshot] = snapshots(database)
    # 3 interactions (a note, a contract created and sent), 1 response (the phone call), 2 kinds, the last one
    # 10.25 days ago: recency 40 × (1 − 10.25/30) = 26.3, frequency 3 × 3 = 9, responsiveness 20 × 1/3 = 6.7,
    # breadth 10 × 2/3 = 6.7.
    assert snapshot.contact_id == pat and snapshot.scored_at == NOW
    assert snapshot.components == {"recency": 26.3, "frequency": 9.0, "responsiveness": 6.7, "breadth": 6.7,
                                   "interactions": 3, "days_since_last": 10.25}
    assert snapshot.score == 48.7


def test_frequency_counts_up_to_ten_interactions_and_an_interaction_now_is_full_recency(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        home = p.property()
        pat = p.contact(home, name="Pat Lee")
        for n in range(12):
            p.note(home, f"Call {n} with Pat Lee", source="phone_call", created_at=NOW - n * HOUR)
        return pat.id

    pat = build(database, fill)

    run_check(database, relationship_scores)

    snapshot = latest_snapshot(database, pat)
    assert snapshot.components == {"recency": 40.0, "frequency": 30.0, "responsiveness": 20.0, "breadth": 3.3,
                                   "interactions": 12, "days_since_last": 0.0}
    assert snapshot.score == 93.3


def test_offers_they_submitted_and_contracts_they_completed_are_responses(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        home = p.property()
        pat = p.contact(home, name="Pat Lee")
        p.offer(home, buyer_contact_id=pat.id, submitted_at=NOW - days(3), created_at=NOW - days(3))
        p.offer(home, buyer_contact_id=pat.id, status="draft", created_at=NOW - days(3))
        p.contract(home, contact_id=pat.id, status="completed", created_at=NOW - days(3),
                   sent_at=NOW - days(3), completed_at=NOW - days(3))
        return pat.id

    pat = build(database, fill)

    run_check(database, relationship_scores)

    # 5 interactions: 2 offers (1 submitted) and a contract created, sent and completed (1 response).
    snapshot = latest_snapshot(database, pat)
    assert snapshot.components == {"recency": 36.0, "frequency": 15.0, "responsiveness": 8.0, "breadth": 6.7,
                                   "interactions": 5, "days_since_last": 3.0}
    assert snapshot.score == 65.7


def test_a_contact_never_heard_from_scores_zero(database: Database) -> None:
    pat = build(database, lambda p: p.contact(p.property(), name="Pat Lee").id)

    run_check(database, relationship_scores)

    snapshot = latest_snapshot(database, pat)
    assert snapshot.score == 0.0
    assert snapshot.components == {"recency": 0.0, "frequency": 0.0, "responsiveness": 0.0, "breadth": 0.0,
                                   "interactions": 0, "days_since_last": None}


def test_a_snapshot_is_written_only_when_a_score_changed(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        open_home, closed_home = p.property(status="waiting_for_contracts"), p.property(status="complete")
        p.contact(closed_home, role="lawyer")
        pat = p.contact(open_home, name="Pat Lee", role="buyer", created_at=NOW - days(60))
        p.note(open_home, "Met Pat Lee at the house", created_at=NOW - days(5))
        return {"pat": pat.id, "inspector": p.contact(open_home, role="inspector").id}

    ids = build(database, fill)

    first = run_check(database, relationship_scores)
    # An hour later Pat's recency is still 33.3 (5.04 days); a day later it is 32.0. The inspector stays at 0.
    an_hour_later = run_check(database, relationship_scores, now=NOW + HOUR)
    a_day_later = run_check(database, relationship_scores, now=NOW + days(1))

    assert [(s.contact_id, s.scored_at, s.score) for s in snapshots(database)] == [
        (ids["pat"], NOW, 39.6), (ids["inspector"], NOW, 0.0), (ids["pat"], NOW + days(1), 38.3)]
    assert [r.data["contacts_scored"] for r in (first, an_hour_later, a_day_later)] == [2, 2, 2]
    assert first.items == [] and an_hour_later.metrics == {"rows_examined": 2, "actions_taken": 0}


def test_the_report_lists_the_lowest_scoring_key_contacts(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        home = p.property(address="12 Oak Street")
        warm = p.contact(home, name="Pat Lee", role="seller")
        p.note(home, "Pat Lee signed", created_at=NOW - days(1))
        return {
            "warm": warm.id,
            "cold": p.contact(home, name="Kim Wu", role="attorney").id,
            "home": home.id,
            "inspector": p.contact(home, name="Sam Roe", role="inspector").id,
        }

    ids = build(database, fill)

    result = run_check(database, relationship_scores)

    assert result.data["contacts_scored"] == 3
    assert [(r["contact"], r["name"], r["role"], r["address"], r["property"]) for r in result.data["lowest"]] == [
        (ids["cold"], "Kim Wu", "attorney", "12 Oak Street", ids["home"]),
        (ids["warm"], "Pat Lee", "seller", "12 Oak Street", ids["home"]),
    ]
    assert result.data["lowest"][0]["score"] == 0.0 < result.data["lowest"][1]["score"]


# --- cooling_relationships ----------------------------------------------------------


def test_a_drop_of_ten_percent_is_cooling_and_one_of_nine_point_nine_is_not(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        home = p.property()

        def history(*scores: float) -> int:
            contact = p.contact(home, role="lender")
            for n, score in enumerate(scores):
                scored(p, contact, score, NOW - (len(scores) - 1 - n) * HOUR)
            return contact.id

        return {
            **{f"ten_percent_of_{n}": history(float(n), n * 9 / 10) for n in range(1, 101)},
            "nine_point_nine": history(100.0, 90.1),
            "rising": history(50.0, 70.0),
            "single_snapshot": history(10.0),
            "from_zero": history(0.0, 0.0),
            "earlier_drop_only": history(100.0, 60.0, 58.0),
        }

    ids = build(database, fill)

    items = by_subject(run_check(database, cooling_relationships))

    assert set(items) == {f"contact:{ids[f'ten_percent_of_{n}']}" for n in range(1, 101)}


def test_cooling_is_high_for_buyers_and_sellers_and_medium_for_others(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        home = p.property()
        roles = {}
        for role in ("buyer", "seller", "lender", "attorney", "inspector"):
            contact = p.contact(home, role=role)
            scored(p, contact, 80.0, NOW - HOUR)
            scored(p, contact, 40.0, NOW)
            roles[role] = contact.id
        return roles

    ids = build(database, fill)

    items = by_subject(run_check(database, cooling_relationships))

    assert {role: items[f"contact:{i}"].priority for role, i in ids.items()} == {
        "buyer": Priority.high, "seller": Priority.high, "lender": Priority.medium, "attorney": Priority.medium,
        "inspector": Priority.medium}


def test_the_cooling_message_names_the_contact_role_address_scores_and_last_contact(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        home = p.property(address="12 Oak Street")
        pat = p.contact(home, name="Pat Lee", role="mortgage_broker")
        scored(p, pat, 80.4, NOW - days(1), days_since_last=2.0)
        scored(p, pat, 52.0, NOW - 3 * HOUR, days_since_last=9.0)
        kim = p.contact(home, name="Kim Wu", role="seller")
        scored(p, kim, 9.0, NOW - days(1))
        scored(p, kim, 7.5, NOW)
        return {"pat": pat.id, "kim": kim.id, "home": home.id}

    ids = build(database, fill)

    items = by_subject(run_check(database, cooling_relationships))

    pat, kim = items[f"contact:{ids['pat']}"], items[f"contact:{ids['kim']}"]
    assert pat.message == ("Pat Lee, the mortgage broker for 12 Oak Street, is cooling: their relationship score fell"
                           " from 80 to 52. Last heard from 9 days ago.")
    assert kim.message == ("Kim Wu, the seller for 12 Oak Street, is cooling: their relationship score fell"
                           " from 9 to 7.5. Nothing from them in the last 30 days.")
    assert pat.next_step == "Call Pat Lee to check in on 12 Oak Street"
    assert pat.affected == {"contacts": [ids["pat"]], "properties": [ids["home"]]}
    assert (pat.data["previous_score"], pat.data["score"], pat.data["drop"]) == (80.4, 52.0, 0.353)


def test_cooling_follows_the_scores_written_in_the_same_cycle(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        home = p.property(address="12 Oak Street")
        pat = p.contact(home, name="Pat Lee", role="buyer")
        p.note(home, "Pat Lee called", source="phone_call", created_at=NOW - days(10))
        for _ in range(2):  # inside the 30-day window yesterday, outside it today
            p.note(home, "Pat Lee called back", source="phone_call", created_at=NOW - days(30.5))
        return pat.id

    pat = build(database, fill)

    # Yesterday: recency 28.0, frequency 9, responsiveness 20, breadth 3.3 = 60.3.
    run_check(database, relationship_scores, now=NOW - days(1))
    assert run_check(database, cooling_relationships, now=NOW - days(1)).items == []
    # Now two calls fell out of the window: 26.7 + 3 + 20 + 3.3 = 53.0, down 12 percent.
    run_check(database, relationship_scores)
    [item] = run_check(database, cooling_relationships).items

    assert [s.score for s in snapshots(database)] == [60.3, 53.0]
    assert (item.subject, item.priority) == (f"contact:{pat}", Priority.high)
    assert item.message == ("Pat Lee, the buyer for 12 Oak Street, is cooling: their relationship score fell"
                            " from 60 to 53. Last heard from 10 days ago.")


def test_contacts_of_complete_properties_do_not_cool(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        contact = p.contact(p.property(status="complete"), role="buyer")
        scored(p, contact, 80.0, NOW - HOUR)
        scored(p, contact, 20.0, NOW)

    build(database, fill)

    result = run_check(database, cooling_relationships)

    assert result.items == []
    assert result.metrics == {"rows_examined": 0, "actions_taken": 0}


# --- overdue_follow_ups -------------------------------------------------------------


def test_a_follow_up_due_a_minute_ago_is_overdue_and_one_due_now_or_in_a_minute_is_not(database: Database) -> None:
    overdue, due_now, later = build(database, lambda p: (
        p.task(task_type="follow_up", scheduled_at=NOW - MINUTE).id,
        p.task(task_type="follow_up", scheduled_at=NOW).id,
        p.task(task_type="follow_up", scheduled_at=NOW + MINUTE).id,
    ))

    items = by_subject(run_check(database, overdue_follow_ups))

    assert {subject: item.priority for subject, item in items.items()} == {f"task:{overdue}": Priority.high}
    assert f"task:{later}" in by_subject(run_check(database, overdue_follow_ups, now=NOW + 2 * MINUTE))
    assert f"task:{due_now}" in by_subject(run_check(database, overdue_follow_ups, now=NOW + 2 * MINUTE))


def test_only_enabled_open_follow_ups_can_be_overdue(database: Database) -> None:
    late = NOW - days(2)
    ids = build(database, lambda p: {
        "pending": p.task(task_type="follow_up", scheduled_at=late).id,
        "scheduled": p.task(task_type="follow_up", status="scheduled", scheduled_at=late).id,
        "disabled": p.task(task_type="follow_up", enabled=False, scheduled_at=late).id,
        "completed": p.task(task_type="follow_up", status="completed", scheduled_at=late).id,
        "cancelled": p.task(task_type="follow_up", status="cancelled", scheduled_at=late).id,
        "running": p.task(task_type="follow_up", status="running", scheduled_at=late).id,
        "reminder": p.task(task_type="reminder", scheduled_at=late).id,
        "contract_check": p.task(task_type="contract_check", scheduled_at=late).id,
    })

    result = run_check(database, overdue_follow_ups)

    assert set(by_subject(result)) == {f"task:{ids['pending']}", f"task:{ids['scheduled']}"}
    assert result.metrics == {"rows_examined": 2, "actions_taken": 0}


def test_the_overdue_message_names_the_task_contact_and_address_and_how_late(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        home = p.property(address="12 Oak Street")
        pat = p.contact(home, name="Pat Lee")
        return {
            "home": home.id, "pat": pat.id,
            "on_both": p.task(task_type="follow_up", title="Ask about the inspection.", property_id=home.id,
                              contact_id=pat.id, scheduled_at=NOW - 3 * HOUR - MINUTE).id,
            "via_contact": p.task(task_type="follow_up", title="Send the comps", contact_id=pat.id,
                                  scheduled_at=NOW - days(4) - HOUR).id,
            "errand": p.task(task_type="follow_up", title="Call the bank", scheduled_at=NOW - 20 * MINUTE).id,
        }

    ids = build(database, fill)

    items = by_subject(run_check(database, overdue_follow_ups))

    on_both, via_contact, errand = (items[f"task:{ids[k]}"] for k in ("on_both", "via_contact", "errand"))
    assert on_both.message == "Ask about the inspection (Pat Lee, 12 Oak Street): 3 hours overdue."
    assert via_contact.message == "Send the comps (Pat Lee, 12 Oak Street): 4 days overdue."
    assert errand.message == "Call the bank: less than an hour overdue."
    assert on_both.next_step == "Call Pat Lee now, or reschedule the follow-up"
    assert errand.next_step == "Do it now, or reschedule it"
    assert on_both.affected == {"tasks": [ids["on_both"]], "contacts": [ids["pat"]], "properties": [ids["home"]]}
    assert via_contact.affected == {"tasks": [ids["via_contact"]], "contacts": [ids["pat"]],
                                    "properties": [ids["home"]]}
    assert errand.affected == {"tasks": [ids["errand"]]}


def test_an_agent_sees_follow_ups_of_their_properties_and_errands_only(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        mine, theirs = p.agent(), p.agent()
        my_home, their_home = p.property(mine), p.property(theirs)
        late = {"task_type": "follow_up", "scheduled_at": NOW - HOUR}
        return {
            "agent": mine.id,
            "mine": p.task(property_id=my_home.id, **late).id,
            "via_my_contact": p.task(contact_id=p.contact(my_home).id, **late).id,
            "errand": p.task(**late).id,
            "theirs": p.task(property_id=their_home.id, **late).id,
            "via_their_contact": p.task(contact_id=p.contact(their_home).id, **late).id,
        }

    ids = build(database, fill)

    items = by_subject(run_check(database, overdue_follow_ups, agent_id=ids["agent"]))

    assert set(items) == {f"task:{ids[k]}" for k in ("mine", "via_my_contact", "errand")}


# --- contacts_needing_outreach ------------------------------------------------------


def test_a_key_contact_silent_for_fourteen_days_needs_outreach_and_one_heard_from_since_does_not(
        database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        home = p.property(address="12 Oak Street")

        def heard(name: str, ago: timedelta) -> int:
            contact = p.contact(home, name=name, role="buyer", created_at=NOW - days(60))
            p.note(home, f"Spoke with {name}", created_at=NOW - ago)
            return contact.id

        return {"silent": heard("Pat Lee", days(14)), "heard_since": heard("Kim Wu", days(14) - MINUTE)}

    ids = build(database, fill)

    items = by_subject(run_check(database, contacts_needing_outreach))

    assert list(items) == [f"contact:{ids['silent']}"]
    assert items[f"contact:{ids['silent']}"].priority == Priority.medium


@pytest.mark.parametrize("role", ["mortgage_broker", "inspector", "title_company", "appraiser", "tenant", "other"])
def test_only_buyers_sellers_lenders_lawyers_and_attorneys_need_outreach(database: Database, role: str) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        home = p.property()
        return {r: p.contact(home, role=r, created_at=NOW - days(60)).id for r in (*KEY_CONTACT_ROLES, role)}

    ids = build(database, fill)

    items = by_subject(run_check(database, contacts_needing_outreach))

    assert set(items) == {f"contact:{ids[r]}" for r in KEY_CONTACT_ROLES}


def test_a_contact_added_less_than_fourteen_days_ago_has_not_been_silent_for_fourteen_days(
        database: Database) -> None:
    ids = build(database, lambda p: {
        "added_fourteen_days_ago": p.contact(p.property(), role="seller", created_at=NOW - days(14)).id,
        "added_just_under": p.contact(p.property(), role="seller", created_at=NOW - days(14) + MINUTE).id,
    })

    assert list(by_subject(run_check(database, contacts_needing_outreach))) == [
        f"contact:{ids['added_fourteen_days_ago']}"]


def test_contacts_of_complete_properties_need_no_outreach(database: Database) -> None:
    build(database, lambda p: p.contact(p.property(status="complete"), role="buyer", created_at=NOW - days(60)))

    result = run_check(database, contacts_needing_outreach)

    assert result.items == []
    assert result.metrics == {"rows_examined": 0, "actions_taken": 0}


def test_the_outreach_message_says_when_they_were_last_heard_from_or_never(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        home = p.property(address="12 Oak Street")
        pat = p.contact(home, name="Pat Lee", role="lender", created_at=NOW - days(200))
        p.contract(home, contact_id=pat.id, created_at=NOW - days(20) - HOUR)
        return {
            "home": home.id, "pat": pat.id,
            "kim": p.contact(home, name="Kim Wu", role="attorney", created_at=NOW - days(40)).id,
            "sam": p.contact(home, name="Sam Roe", role="seller", created_at=NOW - days(200)).id,
        }

    ids = build(database, fill)

    items = by_subject(run_check(database, contacts_needing_outreach))

    pat, kim, sam = (items[f"contact:{ids[k]}"] for k in ("pat", "kim", "sam"))
    assert pat.message == "Pat Lee, the lender for 12 Oak Street, was last heard from 20 days ago."
    assert kim.message == "Kim Wu, the attorney for 12 Oak Street, has never been heard from."
    assert sam.message == "Sam Roe, the seller for 12 Oak Street, has not been heard from in 90 days."
    assert pat.next_step == "Call Pat Lee about 12 Oak Street"
    assert pat.affected == {"contacts": [ids["pat"]], "properties": [ids["home"]]}
    assert pat.data == {"role": "lender", "last_heard_at": (NOW - days(20) - HOUR).isoformat()}
    assert kim.data["last_heard_at"] is None


LAST_HEARD: dict[str, Callable[[Portfolio, Property, Contact, timedelta], Any]] = {
    "a note naming them": lambda p, home, pat, ago: p.note(home, "Texted pat lee the photos", created_at=NOW - ago),
    "a contract sent to them": lambda p, home, pat, ago: p.contract(
        home, contact_id=pat.id, status="sent", created_at=NOW - days(200), sent_at=NOW - ago),
    "an offer they made": lambda p, home, pat, ago: p.offer(home, buyer_contact_id=pat.id, created_at=NOW - ago),
}


@pytest.mark.parametrize("kind", list(LAST_HEARD))
@pytest.mark.parametrize(("ago", "heard"), [
    (days(20), "was last heard from 20 days ago"),
    (days(90), "was last heard from 90 days ago"),
    (days(90) + MINUTE, "has not been heard from in 90 days"),
])
def test_last_heard_from_is_the_latest_interaction_of_any_kind_within_90_days(
        database: Database, kind: str, ago: timedelta, heard: str) -> None:
    def fill(p: Portfolio) -> int:
        home = p.property(address="12 Oak Street")
        pat = p.contact(home, name="Pat Lee", role="lender", created_at=NOW - days(300))
        LAST_HEARD[kind](p, home, pat, ago)
        p.note(home, "Texted the other buyer", created_at=NOW - days(2))  # not about Pat
        return pat.id

    pat = build(database, fill)

    items = by_subject(run_check(database, contacts_needing_outreach))

    assert items[f"contact:{pat}"].message == f"Pat Lee, the lender for 12 Oak Street, {heard}."


# --- every check: agent scope and statement count -----------------------------------


def _scored_contact(p: Portfolio, agent: Any) -> None:
    home = p.property(agent)
    contact = p.contact(home, role="buyer", name=f"Client {home.id}")
    p.note(home, f"Met {contact.name}", source="phone_call")
    p.contract(home, contact_id=contact.id, sent_at=NOW - days(2))
    p.offer(home, buyer_contact_id=contact.id)


def _cooling_contact(p: Portfolio, agent: Any) -> None:
    contact = p.contact(p.property(agent), role="seller")
    scored(p, contact, 70.0, NOW - 2 * HOUR)
    scored(p, contact, 50.0, NOW - HOUR)


def _overdue_follow_up(p: Portfolio, agent: Any) -> None:
    home = p.property(agent)
    p.task(task_type="follow_up", property_id=home.id, contact_id=p.contact(home).id, scheduled_at=NOW - HOUR)


def _silent_contact(p: Portfolio, agent: Any) -> None:
    home = p.property(agent)
    contact = p.contact(home, role="lender", name=f"Client {home.id}", created_at=NOW - days(60))
    p.note(home, f"Met {contact.name}", created_at=NOW - days(20))


CHECKS = [
    (relationship_scores, _scored_contact), (cooling_relationships, _cooling_contact),
    (overdue_follow_ups, _overdue_follow_up), (contacts_needing_outreach, _silent_contact),
]
# What each check's docstring promises, whatever the portfolio size.
STATEMENTS = {"relationship_scores": 14, "cooling_relationships": 2, "overdue_follow_ups": 1,
              "contacts_needing_outreach": 2}
CHECK_IDS = [handler.__name__ for handler, _ in CHECKS]


def _findings(database: Database, result: CheckResult) -> set[int]:
    """Contacts a run at NOW reported on, listed or scored."""
    found = {cid for item in result.items for cid in item.affected.get("contacts", [])}
    found |= {row["contact"] for row in result.data.get("lowest", [])}
    return found | {s.contact_id for s in snapshots(database) if s.scored_at == NOW}


@pytest.mark.parametrize(("handler", "situation"), CHECKS, ids=CHECK_IDS)
def test_another_agents_contacts_never_appear(database: Database, handler: Any, situation: Any) -> None:
    def fill(p: Portfolio) -> tuple[int, set[int]]:
        mine, theirs = p.agent(), p.agent()
        situation(p, mine)
        situation(p, theirs)
        my_contacts = set(p.session.scalars(
            select(Contact.id).join(Property, Property.id == Contact.property_id).where(Property.agent_id == mine.id)))
        return mine.id, my_contacts

    agent, my_contacts = build(database, fill)

    result = run_check(database, handler, agent_id=agent)

    assert _findings(database, result) == my_contacts


@pytest.mark.parametrize(("handler", "situation"), CHECKS, ids=CHECK_IDS)
def test_statement_count_does_not_grow_with_the_portfolio(database: Database, handler: Any, situation: Any) -> None:
    small, large, result = statements_small_and_large(database, handler, one_agent_with(situation), later=NOW + MINUTE)

    assert small == large == STATEMENTS[handler.__name__]
    assert len(result.items) + result.data.get("contacts_scored", 0) >= 30


def test_snapshots_older_than_two_days_are_let_go_but_never_a_contacts_latest(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        home = p.property()
        pat = p.contact(home, name="Pat Lee", created_at=NOW - days(60))
        p.note(home, "Met Pat Lee", created_at=NOW - days(5))  # 42.4, 42.2 and 39.6 at the three runs
        return {"pat": pat.id, "kim": p.contact(home, name="Kim Wu").id, "gone": p.contact(home, name="Sam Roe").id}

    ids = build(database, fill)
    for hours_ago in (49, 47):
        run_check(database, relationship_scores, now=NOW - timedelta(hours=hours_ago))
    with database.transaction() as session:
        session.delete(session.get(Contact, ids["gone"]))
    run_check(database, relationship_scores)

    kept = [(s.contact_id, s.scored_at) for s in snapshots(database)]
    assert kept == [(ids["kim"], NOW - timedelta(hours=49)), (ids["pat"], NOW - timedelta(hours=47)), (ids["pat"], NOW)]


def test_the_snapshots_of_a_deleted_contact_stay_until_they_are_two_days_old(database: Database) -> None:
    gone = build(database, lambda p: p.contact(p.property(), name="Sam Roe").id)
    run_check(database, relationship_scores, now=NOW - timedelta(hours=47))
    with database.transaction() as session:
        session.delete(session.get(Contact, gone))

    run_check(database, relationship_scores)
    assert [s.contact_id for s in snapshots(database)] == [gone]
    run_check(database, relationship_scores, now=NOW + timedelta(hours=1, minutes=1))
    assert snapshots(database) == []


# --- the notes naming each contact are read once, and again when the contact changes ------


def interactions_of(database: Database, contact_id: int) -> int:
    return latest_snapshot(database, contact_id).components["interactions"]


def _edit(database: Database, change: Callable[[Any], Any]) -> Any:
    with database.transaction() as session:
        return change(session)


def test_a_note_written_after_a_run_is_counted_at_the_next(database: Database) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        home = p.property()
        return home.id, p.contact(home, name="Pat Lee", created_at=NOW - days(60)).id

    home, pat = build(database, fill)
    run_check(database, relationship_scores, now=NOW - 2 * HOUR)
    _edit(database, lambda s: s.add(PropertyNote(property_id=home, content="Called PAT LEE back", source="phone_call",
                                                 created_at=NOW - HOUR)))

    run_check(database, relationship_scores)

    assert latest_snapshot(database, pat).components == {
        "recency": 39.9, "frequency": 3.0, "responsiveness": 20.0, "breadth": 3.3, "interactions": 1,
        "days_since_last": 0.04}


def test_a_note_written_long_ago_but_added_after_a_run_is_counted_at_the_next(database: Database) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        home = p.property()
        pat = p.contact(home, name="Pat Lee", created_at=NOW - days(60))
        p.note(home, "Pat Lee toured the house", created_at=NOW - days(3))
        return home.id, pat.id

    home, pat = build(database, fill)
    run_check(database, relationship_scores, now=NOW - HOUR)
    _edit(database, lambda s: s.add(PropertyNote(property_id=home, content="Pat Lee asked about the roof",
                                                 source="manual", created_at=NOW - days(20))))

    run_check(database, relationship_scores)

    assert interactions_of(database, pat) == 2


def test_a_note_committed_after_a_run_with_an_earlier_id_is_counted_at_the_next(database: Database) -> None:
    """The id came first, the commit later: the run read a newer note already, but not this one."""
    def fill(p: Portfolio) -> tuple[int, int]:
        home = p.property()
        pat = p.contact(home, name="Pat Lee", created_at=NOW - days(60))
        p.note(home, "Pat Lee called", id=1000, created_at=NOW - 2 * HOUR)
        return home.id, pat.id

    home, pat = build(database, fill)
    run_check(database, relationship_scores, now=NOW - HOUR)
    _edit(database, lambda s: s.add(PropertyNote(id=500, property_id=home, content="Texted Pat Lee", source="manual",
                                                 created_at=NOW - 3 * HOUR)))  # an hour before the latest note read

    run_check(database, relationship_scores)

    assert interactions_of(database, pat) == 2


def test_a_contact_added_after_a_run_is_found_in_the_notes_written_before(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        home = p.property()
        p.contact(home, name="Kim Wu", created_at=NOW - days(60))
        p.note(home, "Kim Wu and Pat Lee signed", created_at=NOW - days(3))
        p.note(home, "Waiting for Pat Lee", created_at=NOW - days(2))
        p.note(home, "Kim Wu sent the deposit", created_at=NOW - 2 * HOUR)  # the latest note read, by far
        return home.id

    home = build(database, fill)
    run_check(database, relationship_scores, now=NOW - HOUR)
    pat = _edit(database, lambda s: _added(s, Contact(property_id=home, name="Pat Lee", role="buyer",
                                                      created_at=NOW - HOUR)))

    run_check(database, relationship_scores)

    assert interactions_of(database, pat) == 2


def _added(session: Any, row: Any) -> int:
    session.add(row)
    session.flush()
    return row.id


def test_a_renamed_contact_is_found_under_the_new_name_only(database: Database) -> None:
    def fill(p: Portfolio) -> int:
        home = p.property()
        pat = p.contact(home, name="Pat Lee", created_at=NOW - days(60))
        p.note(home, "Pat Lee called", created_at=NOW - days(3))
        for ago in (2, 1):
            p.note(home, "Patricia Lee-Moore called", created_at=NOW - days(ago))
        return pat.id

    pat = build(database, fill)
    run_check(database, relationship_scores, now=NOW - HOUR)
    assert interactions_of(database, pat) == 1
    _edit(database, lambda s: setattr(s.get(Contact, pat), "name", "Patricia Lee-Moore"))

    run_check(database, relationship_scores)

    assert interactions_of(database, pat) == 2


def test_a_contact_moved_to_another_property_is_found_in_its_notes(database: Database) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        home, other = p.property(), p.property()
        pat = p.contact(home, name="Pat Lee", created_at=NOW - days(60))
        p.note(home, "Pat Lee called", created_at=NOW - days(3))
        for ago in (3, 2, 1):
            p.note(other, "Pat Lee saw this one too", created_at=NOW - days(ago))
        return pat.id, other.id

    pat, other = build(database, fill)
    run_check(database, relationship_scores, now=NOW - HOUR)
    _edit(database, lambda s: setattr(s.get(Contact, pat), "property_id", other))

    run_check(database, relationship_scores)

    assert interactions_of(database, pat) == 3


def test_a_first_run_reads_the_notes_of_the_last_thirty_one_days_only(database: Database) -> None:
    """Older notes count in no score: matching them would only fill note_mentions for the next run to empty."""
    def fill(p: Portfolio) -> dict[int, datetime]:
        home = p.property()
        p.contact(home, name="Pat Lee", created_at=NOW - days(90))
        written = {days(31) - MINUTE: "Pat Lee called", days(31) + MINUTE: "Pat Lee signed", days(60): "Met Pat Lee"}
        return {p.note(home, content, created_at=NOW - ago).id: NOW - ago for ago, content in written.items()}

    notes = build(database, fill)

    run_check(database, relationship_scores)

    with database.sessions() as session:
        matched = session.scalars(select(NoteMention.note_id)).all()
    assert [notes[note] for note in matched] == [NOW - days(31) + MINUTE]


def test_a_deleted_note_no_longer_counts(database: Database) -> None:
    def fill(p: Portfolio) -> tuple[int, int]:
        home = p.property()
        pat = p.contact(home, name="Pat Lee", created_at=NOW - days(60))
        p.note(home, "Pat Lee called", created_at=NOW - days(3))
        return pat.id, p.note(home, "Pat Lee called again", created_at=NOW - days(2)).id

    pat, second = build(database, fill)
    run_check(database, relationship_scores, now=NOW - HOUR)
    _edit(database, lambda s: s.delete(s.get(PropertyNote, second)))

    run_check(database, relationship_scores)

    assert interactions_of(database, pat) == 1


def test_scores_kept_up_run_after_run_equal_scores_from_every_note_read_afresh(database: Database) -> None:
    """A seeded portfolio changes between two runs; the second run's scores are those of a first run."""
    seed_portfolio(database, properties=40, seed=3, now=NOW - days(1))
    run_check(database, relationship_scores, now=NOW - days(1))

    def change(session: Any) -> None:
        contacts = session.scalars(select(Contact).order_by(Contact.id)).all()
        notes = session.scalars(select(PropertyNote).order_by(PropertyNote.id)).all()
        for contact in contacts[::7]:  # new notes naming them, some written long ago
            for ago in (days(25), HOUR):
                session.add(PropertyNote(property_id=contact.property_id, content=f"Spoke with {contact.name.upper()}",
                                         source="phone_call", created_at=NOW - ago))
        for note in notes[::5]:
            session.delete(note)
        contacts[1].name = contacts[2].name  # renamed
        contacts[3].property_id = contacts[4].property_id  # moved
        session.add(Contact(property_id=contacts[5].property_id, name=contacts[6].name, role="lender",
                            created_at=NOW - HOUR))  # added

    _edit(database, change)
    run_check(database, relationship_scores)
    kept_up = _latest(database)
    _edit(database, lambda s: [s.execute(table.delete()) for table in (NoteMention.__table__, ScoredContact.__table__,
                                                                       RelationshipScoreSnapshot.__table__)])
    run_check(database, relationship_scores)
    afresh = _latest(database)

    assert {c: s.score for c, s in afresh.items()} == {c: s.score for c, s in kept_up.items()}
    rescored = {c for c, s in kept_up.items() if s.scored_at == NOW}
    assert {c: afresh[c].components for c in rescored} == {c: kept_up[c].components for c in rescored}
    assert len(kept_up) > 50 and len(rescored) > 25


def _latest(database: Database) -> dict[int, RelationshipScoreSnapshot]:
    return {s.contact_id: s for s in snapshots(database)}
