"""Daily digest: the last 24 hours, what is overdue now and what needs attention today, in at most 80 words."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select, update

from checks.digest import daily_digest
from checks.market import watchlist_matches
from checks.portfolio import contract_deadlines, pipeline_advancement
from checks.schema import CONTRACT_STATUSES, Agent, Notification, Property
from heartbeat_mcp.database import Database
from heartbeat_mcp.models import ActionItemRow
from heartbeat_mcp.store import fingerprint
from heartbeat_mcp.task import Priority
from tests.factories import NOW, Portfolio, build, days, run_check, statements_small_and_large

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)
QUIET_DAY = ("Good morning. A quiet day: nothing happened in the last 24 hours and nothing needs your attention"
             " today.")


def digests(database: Database) -> list[Notification]:
    with database.sessions() as session:
        return list(session.scalars(
            select(Notification).where(Notification.type == "daily_digest").order_by(Notification.id)
        ))


def words(text: str) -> int:
    return len(text.split())


def notification(p: Portfolio, kind: str, at: datetime, **kw: Any) -> Notification:
    row = Notification(**{"type": kind, "priority": "medium", "title": kind, "message": kind, "is_read": False,
                          "is_dismissed": False, "created_at": at, **kw})
    p.session.add(row)
    p.session.flush()
    return row


def advance(p: Portfolio, home: Property, at: datetime, to: str = "enriched", **kw: Any) -> Notification:
    """The notification pipeline_advancement writes for a move."""
    return notification(p, "pipeline_auto_advance", at, **{
        "property_id": home.id, "agent_id": home.agent_id, "message": f"{home.address} moved to {to}.",
        "data": {"from": "new_property", "to": to}, **kw})


def match(p: Portfolio, at: datetime, count: int | None, message: str, **kw: Any) -> Notification:
    """The notification watchlist_matches writes for a watchlist with `count` new listings."""
    data = {"watchlist": "Austin starters"} | ({} if count is None else {"match_count": count})
    return notification(p, "watchlist_match", at, message=message, data=data, **kw)


_SUBJECTS = itertools.count(1)


def item(p: Portfolio, priority: str, message: str, first_seen: datetime = NOW - HOUR, **kw: Any) -> ActionItemRow:
    """An action item as the engine stores it (open unless `kw` says otherwise)."""
    subject = f"finding:{next(_SUBJECTS)}"
    row = ActionItemRow(**{
        "fingerprint": fingerprint("stale_properties", subject), "task_name": "stale_properties",
        "subject": subject, "priority": priority, "message": message, "next_step": "", "affected": {}, "data": {},
        "first_seen": first_seen, "last_seen": NOW, "times_seen": 1, **kw,
    })
    p.session.add(row)
    p.session.flush()
    return row


# --- the 24-hour window ---------------------------------------------------------------


def test_an_advance_counts_just_inside_the_24_hours_and_not_at_24_hours(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        advance(p, p.property(address="1 Inside Road"), NOW - DAY + MINUTE)
        advance(p, p.property(address="2 Edge Road"), NOW - DAY)
        advance(p, p.property(address="3 Later Road"), NOW + MINUTE)  # after the digest's clock

    build(database, fill)

    result = run_check(database, daily_digest)

    assert result.data["counts"]["advances"] == 1
    assert result.data["speech"] == ("Good morning. In the last 24 hours, 1 Inside Road moved to enriched."
                                     " Nothing needs your attention today.")
    assert "1 Inside Road, now enriched" in result.data["text"]
    assert "2 Edge Road" not in result.data["text"] and "3 Later Road" not in result.data["text"]


def test_a_contract_signed_just_inside_the_window_counts_and_one_signed_24_hours_ago_does_not(
    database: Database,
) -> None:
    def fill(p: Portfolio) -> None:
        home = p.property(address="12 Oak Street")
        p.contract(home, name="Disclosure", status="completed", completed_at=NOW - DAY + MINUTE)
        p.contract(home, name="Purchase agreement", status="completed", completed_at=NOW - DAY)
        p.contract(home, name="Addendum", status="completed", completed_at=NOW - days(3))

    build(database, fill)

    result = run_check(database, daily_digest)

    assert result.data["counts"]["contracts_signed"] == 1
    assert result.data["speech"] == ("Good morning. In the last 24 hours, the Disclosure for 12 Oak Street was"
                                     " signed. Nothing needs your attention today.")
    assert "- 1 contract signed:\n  Disclosure for 12 Oak Street\n" in result.data["text"]


def test_yesterdays_happenings_alone_make_a_quiet_day(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        home = p.property()
        advance(p, home, NOW - DAY)
        match(p, NOW - DAY - HOUR, 3, "Three new listings.", agent_id=home.agent_id)
        p.contract(home, status="completed", completed_at=NOW - DAY)

    build(database, fill)

    result = run_check(database, daily_digest)

    assert result.data["speech"] == QUIET_DAY
    assert set(result.data["counts"].values()) == {0}
    assert result.data["text"] == (
        "Daily digest for Monday 15 June 2026\n\nIn the last 24 hours\n- Nothing new.\n\nOverdue\n"
        "- Nothing overdue.\n\nNeeds attention today (0)\n- Nothing."
    )
    [digest] = digests(database)
    assert (digest.priority, digest.message) == ("low", QUIET_DAY)


# --- watchlist matches -----------------------------------------------------------------


def test_watchlist_matches_are_counted_in_listings_not_notifications(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        agent = p.agent()
        match(p, NOW - HOUR, 4, "Austin starters has 4 new listings.", agent_id=agent.id)
        match(p, NOW - 2 * HOUR, 2, "Condos has 2 new listings.", agent_id=agent.id)
        match(p, NOW - 3 * HOUR, None, "Lots has a new listing.", agent_id=agent.id)  # no count: one listing
        match(p, NOW - DAY, 5, "Yesterday's matches.", agent_id=agent.id)

    build(database, fill)

    result = run_check(database, daily_digest)

    assert result.data["counts"]["watchlist_matches"] == 7
    assert result.data["speech"] == ("Good morning. In the last 24 hours, 7 new listings matched your watchlists."
                                     " Nothing needs your attention today.")
    assert ("- 7 new listings matched your watchlists:\n  Austin starters has 4 new listings.\n"
            "  Condos has 2 new listings.\n  Lots has a new listing.\n") in result.data["text"]


def test_the_autonomous_checks_advances_and_matches_of_the_last_hour_are_reported(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        agent = p.agent()
        p.watchlist(agent, {"city": "Austin"}, name="Austin homes")
        enriched = p.property(agent, address="12 Oak Street", created_at=NOW - days(2))
        p.enrichment(enriched)
        p.property(agent, address="14 Elm Street", created_at=NOW - days(2))

    build(database, fill)
    assert run_check(database, pipeline_advancement, now=NOW - HOUR).metrics["actions_taken"] == 1
    assert run_check(database, watchlist_matches, now=NOW - HOUR).items

    result = run_check(database, daily_digest)

    counts = result.data["counts"]
    assert (counts["advances"], counts["watchlist_matches"]) == (1, 2)
    assert result.data["speech"] == (
        "Good morning. In the last 24 hours, 12 Oak Street moved to enriched and 2 new listings matched your"
        " watchlists. Nothing needs your attention today."
    )
    assert "12 Oak Street, now enriched" in result.data["text"]


def test_an_advance_without_a_target_stage_reports_the_propertys_stage_now(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        advance(p, p.property(address="12 Oak Street", status="researched"), NOW - HOUR, data=None)

    build(database, fill)

    result = run_check(database, daily_digest)

    assert "12 Oak Street moved to researched." in result.data["speech"]
    assert "12 Oak Street, now researched" in result.data["text"]


# --- overdue: the state now ------------------------------------------------------------


def test_a_required_contract_is_overdue_a_minute_past_its_deadline_and_not_at_it(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        home = p.property(address="12 Oak Street")
        p.contract(home, name="Disclosure", status="sent", required_by_date=NOW - MINUTE)
        p.contract(home, name="Addendum", status="sent", required_by_date=NOW)
        p.contract(home, name="Optional addendum", status="sent", is_required=False, required_by_date=NOW - days(5))
        p.contract(home, name="Undated", status="sent")

    build(database, fill)

    result = run_check(database, daily_digest)

    assert result.data["counts"]["overdue_contracts"] == 1
    assert result.data["speech"] == ("Good morning. Nothing new happened in the last 24 hours. Overdue: the"
                                     " Disclosure for 12 Oak Street, less than a day late. Nothing needs your"
                                     " attention today.")
    assert "- 1 required contract past the deadline:\n  Disclosure for 12 Oak Street, less than a day late\n" in (
        result.data["text"])


def test_overdue_contracts_are_those_contract_deadlines_calls_urgent(database: Database) -> None:
    statuses = [*CONTRACT_STATUSES, "voided"]  # a status the platform may add later

    def fill(p: Portfolio) -> None:
        for n, status in enumerate(statuses):
            home = p.property(address=f"{n + 1} Deadline Road", created_at=NOW - days(60))
            p.contract(home, status=status, required_by_date=NOW - days(10 + n), created_at=NOW - days(40))
        sold = p.property(address="1 Sold Road", status="complete", created_at=NOW - days(90))
        p.contract(sold, status="sent", required_by_date=NOW - days(30), created_at=NOW - days(60))  # deal closed

    build(database, fill)

    urgent = [i for i in run_check(database, contract_deadlines).items if i.priority == Priority.urgent]
    result = run_check(database, daily_digest)

    assert result.data["counts"]["overdue_contracts"] == len(urgent) == 5
    assert "Overdue: 5 required contracts, the oldest for 9 Deadline Road." in result.data["speech"]
    assert "- 5 required contracts past the deadline:\n  Purchase agreement for 9 Deadline Road, 18 days late\n" in (
        result.data["text"])


def test_overdue_follow_ups_are_enabled_open_follow_ups_scheduled_before_now(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        home = p.property(address="12 Oak Street")
        follow_up = {"task_type": "follow_up", "property_id": home.id}
        p.task(title="Call Pat", scheduled_at=NOW - MINUTE, **follow_up)
        p.task(title="Email the seller", scheduled_at=NOW - days(30), status="scheduled",
               contact_id=p.contact(home).id, task_type="follow_up")
        p.task(title="Due now", scheduled_at=NOW, **follow_up)
        p.task(title="Tomorrow", scheduled_at=NOW + days(1), **follow_up)
        p.task(title="Disabled", scheduled_at=NOW - days(2), enabled=False, **follow_up)
        p.task(title="Done", scheduled_at=NOW - days(2), status="completed", **follow_up)
        p.task(title="A reminder", scheduled_at=NOW - days(2), task_type="reminder", property_id=home.id)

    build(database, fill)

    result = run_check(database, daily_digest)

    assert result.data["counts"]["overdue_follow_ups"] == 2
    assert "Overdue: 2 follow-ups." in result.data["speech"]
    assert ("- 2 follow-ups overdue:\n  Email the seller (12 Oak Street), 30 days late\n"
            "  Call Pat (12 Oak Street), less than a day late") in result.data["text"]


# --- needs attention today --------------------------------------------------------------


def test_needs_attention_counts_open_items_leaving_out_acknowledged_snoozed_and_resolved(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        item(p, "high", "12 Oak Street has been quiet for 9 days.")
        item(p, "urgent", "The Disclosure for 14 Elm Street is overdue by 2 days.")
        item(p, "low", "The price of 3 Pine Road changed.")
        item(p, "medium", "Snoozed until now, so back.", snoozed_until=NOW)
        item(p, "urgent", "Acknowledged.", acknowledged_at=NOW - HOUR)
        item(p, "high", "Snoozed a minute more.", snoozed_until=NOW + MINUTE)
        item(p, "urgent", "Resolved.", resolved_at=NOW - HOUR)

    build(database, fill)

    result = run_check(database, daily_digest)

    counts = result.data["counts"]
    assert counts["needs_attention"] == 4
    assert {p: counts[f"{p}_items"] for p in ("urgent", "high", "medium", "low")} == {
        "urgent": 1, "high": 1, "medium": 1, "low": 1}
    assert result.data["speech"] == (
        "Good morning. Nothing new happened in the last 24 hours. Today 4 items need your attention, 1 of them"
        " urgent. Most pressing: The Disclosure for 14 Elm Street is overdue by 2 days."
    )
    assert result.data["text"].endswith(
        "Needs attention today (4)\n- Urgent: The Disclosure for 14 Elm Street is overdue by 2 days.\n"
        "- High: 12 Oak Street has been quiet for 9 days.\n- Medium: Snoozed until now, so back.\n"
        "- Low: The price of 3 Pine Road changed."
    )


def test_items_are_ranked_by_priority_then_age_then_id_and_all_are_counted(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        item(p, "high", "Newer high.", first_seen=NOW - HOUR)
        item(p, "high", "Older high, first in.", first_seen=NOW - days(2))
        item(p, "high", "Older high, second in.", first_seen=NOW - days(2))
        for n in range(9):
            item(p, "medium", f"Medium {n + 1}.", first_seen=NOW - days(5))

    build(database, fill)

    result = run_check(database, daily_digest)

    assert result.data["counts"]["needs_attention"] == 12
    assert result.data["speech"].endswith("Today 12 items need your attention. Most pressing: Older high, first in.")
    listed = result.data["text"].split("Needs attention today (12)\n")[1].splitlines()
    assert listed[:4] == ["- High: Older high, first in.", "- High: Older high, second in.", "- High: Newer high.",
                          "- Medium: Medium 1."]
    assert listed[-2:] == ["- Medium: Medium 7.", "  and 2 more"]


def test_a_single_waiting_item_that_is_urgent_is_said_so(database: Database) -> None:
    build(database, lambda p: item(p, "urgent", "The Disclosure for 14 Elm Street is overdue by 2 days."))

    result = run_check(database, daily_digest)

    assert result.data["speech"] == (
        "Good morning. Nothing new happened in the last 24 hours. Today 1 item needs your attention, and it is"
        " urgent. Most pressing: The Disclosure for 14 Elm Street is overdue by 2 days."
    )


# --- priority ---------------------------------------------------------------------------

SITUATIONS: dict[str, tuple[Callable[[Portfolio], Any], str]] = {
    "nothing": (lambda p: None, "low"),
    "a high item": (lambda p: item(p, "high", "High."), "low"),
    "an urgent item": (lambda p: item(p, "urgent", "Urgent."), "medium"),
    "an acknowledged urgent item": (lambda p: item(p, "urgent", "Urgent.", acknowledged_at=NOW), "low"),
    "a snoozed urgent item": (lambda p: item(p, "urgent", "Urgent.", snoozed_until=NOW + MINUTE), "low"),
    "a contract past its deadline": (
        lambda p: p.contract(p.property(), status="sent", required_by_date=NOW - MINUTE), "medium"),
    "a contract due now": (lambda p: p.contract(p.property(), status="sent", required_by_date=NOW), "low"),
    "an overdue follow-up": (lambda p: p.task(task_type="follow_up", property_id=p.property().id), "low"),
    "an advance": (lambda p: advance(p, p.property(), NOW - HOUR), "low"),
}


@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_the_digest_is_medium_when_something_is_urgent_else_low(database: Database, situation: str) -> None:
    fill, expected = SITUATIONS[situation]
    build(database, fill)

    run_check(database, daily_digest)

    [digest] = digests(database)
    assert digest.priority == expected


# --- the spoken summary -----------------------------------------------------------------


def _busy_day(p: Portfolio) -> None:
    agent = p.agent()
    for n in range(6):
        home = p.property(agent, address=f"{100 + n} Lakeview Boulevard Unit {n + 1}")
        advance(p, home, NOW - HOUR)  # all at the same moment: ties broken by id
        p.contract(home, name="Seller's Disclosure", status="completed", completed_at=NOW - 2 * HOUR)
        p.contract(home, name="Inspection Contingency Addendum", status="pending_signature",
                   required_by_date=NOW - days(n + 1))
        p.task(task_type="follow_up", property_id=home.id, title=f"Call the buyer of {home.address}",
               scheduled_at=NOW - days(n + 1))
        match(p, NOW - 3 * HOUR, 3, f"Your watchlist {n} has 3 new listings.", agent_id=agent.id)
        item(p, ("urgent", "high", "medium")[n % 3],
             f"The Inspection Contingency Addendum for {home.address} is overdue by {n + 1} days and the buyer's"
             " lender has not answered two calls, an email and a text message since the appraisal came in low.")


def test_a_busy_day_is_spoken_in_at_most_80_words(database: Database) -> None:
    build(database, _busy_day)

    result = run_check(database, daily_digest)

    speech = result.data["speech"]
    assert words(speech) <= 80
    assert speech.startswith(
        "Good morning. In the last 24 hours, 6 properties moved ahead in the pipeline, including 105 Lakeview"
        " Boulevard Unit 6; 18 new listings matched your watchlists; and 6 contracts were signed, including the"
        " Seller's Disclosure for 105 Lakeview Boulevard Unit 6. Overdue: 6 required contracts, the oldest for"
        " 105 Lakeview Boulevard Unit 6; and 6 follow-ups."
    )
    assert speech.endswith("…")
    assert words(result.data["text"]) > 80  # the longer text is not clipped


def test_a_summary_that_fills_exactly_80_words_ends_at_a_sentence(database: Database) -> None:
    # "Good morning." (2) + "In the last 24 hours, <address> moved to enriched." (8 + address) + "Today 1 item
    # needs your attention." (6) + "Most pressing: …": every address length from 50 to 70 words crosses 80
    # somewhere, including exactly at the end of a sentence.
    def fill(p: Portfolio) -> int:
        home = p.property()
        advance(p, home, NOW - HOUR)
        item(p, "high", "High.")
        return home.id

    home_id = build(database, fill)

    spoken = []
    for length in range(50, 71):
        with database.transaction() as session:
            session.execute(update(Property).where(Property.id == home_id)
                            .values(address=" ".join(["Oak"] * (length - 1) + ["Street"])))
        spoken.append(run_check(database, daily_digest).data["speech"])

    assert max(words(s) for s in spoken) == 80
    assert all(words(s) <= 80 for s in spoken), [words(s) for s in spoken]
    assert all(s.endswith((".", "…")) and not s.endswith(" …") for s in spoken)


def test_the_same_rows_and_clock_give_the_same_words_with_ties_broken_by_id(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        for address in ("9 Zinnia Lane", "1 Aster Lane", "5 Maple Lane"):
            advance(p, p.property(address=address), NOW - HOUR)
        item(p, "high", "Zinnia first.", first_seen=NOW - days(1))
        item(p, "high", "Aster second.", first_seen=NOW - days(1))

    build(database, fill)

    first, second = run_check(database, daily_digest), run_check(database, daily_digest)

    assert first.data == second.data
    assert first.data["speech"] == (
        "Good morning. In the last 24 hours, 3 properties moved ahead in the pipeline, including 5 Maple Lane. Today 2"
        " items need your attention. Most pressing: Zinnia first."
    )
    assert ("- 3 properties moved ahead in the pipeline:\n  5 Maple Lane, now enriched\n  1 Aster Lane, now enriched\n"
            "  9 Zinnia Lane, now enriched\n") in first.data["text"]
    assert [d.message for d in digests(database)] == [first.data["speech"]] * 2


def test_only_three_examples_are_named_and_the_rest_counted(database: Database) -> None:
    def fill(p: Portfolio) -> None:
        for n in range(5):
            advance(p, p.property(address=f"{n + 1} Elm Road"), NOW - (n + 1) * HOUR)

    build(database, fill)

    text = run_check(database, daily_digest).data["text"]

    assert ("- 5 properties moved ahead in the pipeline:\n  1 Elm Road, now enriched\n  2 Elm Road, now enriched\n"
            "  3 Elm Road, now enriched\n  and 2 more\n") in text


# --- the date ---------------------------------------------------------------------------


@pytest.mark.parametrize(("now", "zone", "day"), [
    (datetime(2026, 6, 15, 23, 30, tzinfo=timezone.utc), "UTC", "Monday 15 June 2026"),
    (datetime(2026, 6, 15, 23, 30, tzinfo=timezone.utc), "Asia/Tokyo", "Tuesday 16 June 2026"),
    (datetime(2026, 6, 16, 3, 0, tzinfo=timezone.utc), "America/Los_Angeles", "Monday 15 June 2026"),
])
def test_the_date_is_the_day_in_the_configured_timezone(database: Database, now: datetime, zone: str, day: str) -> None:
    result = run_check(database, daily_digest, now=now, timezone=zone)

    assert result.data["text"].splitlines()[0] == f"Daily digest for {day}"


# --- HEARTBEAT_AGENT_ID -----------------------------------------------------------------


def test_another_agents_portfolio_never_appears(database: Database) -> None:
    def fill(p: Portfolio) -> dict[str, int]:
        mine, theirs = p.agent(), p.agent()
        for agent, street in ((mine, "Mine"), (theirs, "Theirs")):
            home = p.property(agent, address=f"1 {street} Road")
            advance(p, home, NOW - HOUR)
            p.contract(home, name="Disclosure", status="completed", completed_at=NOW - HOUR)
            p.contract(home, name="Addendum", status="sent", required_by_date=NOW - days(2))
            p.task(task_type="follow_up", property_id=home.id, title=f"Call about {home.address}")
            p.task(task_type="follow_up", contact_id=p.contact(home).id, title=f"Email about {home.address}")
        advance(p, p.property(mine, address="2 Mine Road"), NOW - HOUR, agent_id=None)  # known by its property
        p.task(task_type="follow_up", title="Renew my license")  # tied to no property: nobody's in scope
        p.watchlist(mine, {"city": "Dallas"})
        p.watchlist(theirs, {"city": "Houston"})
        p.property(theirs, address="7 Market Road", city="Dallas", created_at=NOW - days(2))  # my watchlist's match
        return {"mine": mine.id, "theirs": theirs.id}

    agents = build(database, fill)
    run_check(database, watchlist_matches, now=NOW - HOUR)

    mine = run_check(database, daily_digest, agent_id=agents["mine"])
    theirs = run_check(database, daily_digest, agent_id=agents["theirs"])
    everyone = run_check(database, daily_digest)

    expected = {"advances": 2, "watchlist_matches": 1, "contracts_signed": 1, "overdue_contracts": 1,
                "overdue_follow_ups": 2}
    assert {k: mine.data["counts"][k] for k in expected} == expected
    assert "Theirs" not in mine.data["text"] and "Theirs" not in mine.data["speech"]
    assert {k: theirs.data["counts"][k] for k in expected} == {
        "advances": 1, "watchlist_matches": 0, "contracts_signed": 1, "overdue_contracts": 1, "overdue_follow_ups": 2}
    assert "Mine" not in theirs.data["text"]
    assert {k: everyone.data["counts"][k] for k in expected} == {
        "advances": 3, "watchlist_matches": 1, "contracts_signed": 2, "overdue_contracts": 2, "overdue_follow_ups": 5}
    assert [d.agent_id for d in digests(database)] == [agents["mine"], agents["theirs"], None]


# --- the notification -------------------------------------------------------------------


def test_each_run_writes_one_daily_digest_notification_with_the_text_and_counts(database: Database) -> None:
    build(database, _busy_day)

    first = run_check(database, daily_digest)
    second = run_check(database, daily_digest, now=NOW + MINUTE)

    notes = digests(database)
    assert len(notes) == 2
    for note, result, at in zip(notes, (first, second), (NOW, NOW + MINUTE), strict=True):
        assert (note.title, note.priority, note.created_at, note.is_read) == ("Daily digest", "medium", at, False)
        assert note.message == result.data["speech"]
        assert note.data["text"] == result.data["text"]
        assert note.data["counts"] == result.data["counts"]
        assert note.data["since"] == (at - DAY).isoformat()
        assert result.items == [] and result.metrics["actions_taken"] == 1
    assert first.data["counts"] == {
        "advances": 6, "watchlist_matches": 18, "contracts_signed": 6, "overdue_contracts": 6, "overdue_follow_ups": 6,
        "needs_attention": 6, "low_items": 0, "medium_items": 2, "high_items": 2, "urgent_items": 2,
    }
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == 12 + 2  # nothing else written


# --- set-based: the same statements for 3 properties or 30 ------------------------------


def _portfolio_of(n: int) -> Callable[[Portfolio], None]:
    def fill(p: Portfolio) -> None:
        agent = p.session.scalar(select(Agent).order_by(Agent.id).limit(1)) or p.agent()
        for i in range(n):
            home = p.property(agent)
            advance(p, home, NOW - HOUR)
            match(p, NOW - HOUR, 2, "Two new listings.", agent_id=agent.id)
            p.contract(home, status="completed", completed_at=NOW - HOUR)
            p.contract(home, status="sent", required_by_date=NOW - days(1))
            p.task(task_type="follow_up", contact_id=p.contact(home).id)
            item(p, ("urgent", "high", "medium", "low")[i % 4], f"Finding {i} about {home.address}.")

    return fill


@pytest.mark.parametrize("scoped", [False, True], ids=["every agent", "one agent"])
def test_statement_count_does_not_grow_with_the_portfolio(database: Database, scoped: bool) -> None:
    scope = {"agent_id": build(database, lambda p: p.agent().id)} if scoped else {}
    small, large, result = statements_small_and_large(database, daily_digest, _portfolio_of, **scope)

    assert small == large == 4
    assert result.data["counts"]["advances"] == 33
    assert result.data["counts"]["needs_attention"] == 33
