"""Small, explicit test data: each test builds exactly the rows its rule needs.

`Portfolio` inserts rows with sensible defaults relative to a fixed `now`;
`run_check` runs one check handler the way the engine does (a session in a
transaction, a CheckContext), `count_statements` counts SQL statements and
`statements_small_and_large` compares a check's count on two portfolio
sizes, and `run_together` runs a check as two replicas at the same moment.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import event

import checks
from checks.schema import (
    Agent, Contact, Contract, ConversationHistory, MarketWatchlist, Notification, Offer, Property, PropertyNote,
    ScheduledTask, SkipTrace, ZillowEnrichment,
)
from heartbeat_mcp.database import Database
from heartbeat_mcp.settings import Settings
from heartbeat_mcp.task import ActionItem, CheckContext, CheckResult, HostInfo

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)


def days(n: float) -> timedelta:
    return timedelta(days=n)


class Portfolio:
    """Adds realtor rows in one session; times default to `now`."""

    def __init__(self, session: Any, now: datetime = NOW) -> None:
        self.session, self.now = session, now
        self._n = itertools.count(1)

    def _add(self, row: Any) -> Any:
        self.session.add(row)
        self.session.flush()
        return row

    def agent(self, **kw: Any) -> Agent:
        n = next(self._n)
        return self._add(Agent(**{"name": f"Agent {n}", "email": f"agent{n}@example.com", "city": "Austin",
                                  "created_at": self.now - days(400), **kw}))

    def property(self, agent: Agent | None = None, **kw: Any) -> Property:
        agent = agent or self.agent()
        n = next(self._n)
        created = kw.pop("created_at", self.now - days(1))
        return self._add(Property(**{
            "agent_id": agent.id, "title": f"Home {n}", "address": f"{n} Oak Street", "city": "Austin",
            "state": "TX", "zip_code": "78701", "price": 400000.0, "bedrooms": 3, "bathrooms": 2.0,
            "square_feet": 1800, "property_type": "house", "status": "new_property",
            "created_at": created, "updated_at": created, **kw,
        }))

    def contact(self, property_: Property, **kw: Any) -> Contact:
        n = next(self._n)
        return self._add(Contact(**{"property_id": property_.id, "name": f"Pat Person{n}", "role": "buyer",
                                    "phone": "555-0100", "email": f"c{n}@example.com",
                                    "created_at": self.now - days(30), **kw}))

    def contract(self, property_: Property, **kw: Any) -> Contract:
        created = kw.pop("created_at", self.now - days(1))
        return self._add(Contract(**{"property_id": property_.id, "name": "Purchase agreement", "status": "draft",
                                     "is_required": True, "created_at": created, "updated_at": created, **kw}))

    def offer(self, property_: Property, **kw: Any) -> Offer:
        return self._add(Offer(**{"property_id": property_.id, "offer_price": 390000.0, "status": "submitted",
                                  "created_at": self.now - days(1), **kw}))

    def note(self, property_: Property, content: str = "Called about the listing", **kw: Any) -> PropertyNote:
        return self._add(PropertyNote(**{"property_id": property_.id, "content": content, "source": "manual",
                                         "created_at": self.now - days(1), **kw}))

    def history(self, property_: Property | None, tool_name: str = "get_property", **kw: Any) -> ConversationHistory:
        return self._add(ConversationHistory(**{
            "session_id": "s1", "property_id": property_.id if property_ else None, "tool_name": tool_name,
            "input_summary": "", "created_at": self.now - days(1), **kw,
        }))

    def enrichment(self, property_: Property, **kw: Any) -> ZillowEnrichment:
        return self._add(ZillowEnrichment(**{"property_id": property_.id, "zestimate": property_.price,
                                             "created_at": self.now - days(1), **kw}))

    def skip_trace(self, property_: Property, **kw: Any) -> SkipTrace:
        return self._add(SkipTrace(**{"property_id": property_.id, "owner_name": "Owner", "phone_numbers": ["555-0101"],
                                      "emails": ["owner@example.com"], "created_at": self.now - days(1), **kw}))

    def task(self, **kw: Any) -> ScheduledTask:
        return self._add(ScheduledTask(**{"task_type": "reminder", "status": "pending", "enabled": True,
                                          "title": "Call the lender", "scheduled_at": self.now - timedelta(minutes=1),
                                          "created_at": self.now - days(2), **kw}))

    def notification(self, **kw: Any) -> Notification:
        return self._add(Notification(**{"type": "pipeline_auto_advance", "priority": "medium", "title": "Pipeline advanced",
                                          "message": "12 Oak Street moved from new to enriched.", "data": {"to": "enriched"},
                                          "is_read": False, "is_dismissed": False,
                                          "created_at": self.now - timedelta(minutes=5), **kw}))

    def watchlist(self, agent: Agent, criteria: dict[str, Any], **kw: Any) -> MarketWatchlist:
        return self._add(MarketWatchlist(**{"agent_id": agent.id, "name": "Watchlist", "criteria": criteria,
                                            "is_active": True, "match_count": 0, "created_at": self.now - days(10), **kw}))


def build(database: Database, fill: Callable[[Portfolio], Any]) -> Any:
    """Insert rows in one committed transaction; returns what `fill` returns (ids only)."""
    with database.transaction() as session:
        return fill(Portfolio(session, NOW))


def by_subject(result: CheckResult) -> dict[str, ActionItem]:
    """A run's items by subject, after checking that no subject was reported twice."""
    subjects = [item.subject for item in result.items]
    assert len(subjects) == len(set(subjects)), "one item per subject and run"
    return {item.subject: item for item in result.items}


_READ_ONLY = {spec.handler for spec in checks.pack.tasks if spec.read_only}


def settings(**kw: Any) -> Settings:
    return Settings(database_url="sqlite:///unused.db", **kw)


def run_check(database: Database, handler: Any, now: datetime = NOW, **setting_values: Any) -> CheckResult:
    """Run a synchronous check in its own committed transaction, as the engine does (read-only, if declared)."""
    with database.readers() if handler in _READ_ONLY else database.transaction() as session:
        ctx = CheckContext(task=handler.__name__, now=now, settings=settings(**setting_values),
                           database=database, host=HostInfo(), session=session)
        return handler(ctx)


@contextmanager
def count_statements(database: Database) -> Iterator[list[str]]:
    """Collect every SQL statement the database executes inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "SET ", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK")):
            seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def one_agent_with(situation: Callable[[Portfolio, Agent], Any]) -> Callable[[int], Callable[[Portfolio], None]]:
    """A portfolio of n times `situation`, all for one new agent: what `statements_small_and_large` grows."""
    def portfolio_of(n: int) -> Callable[[Portfolio], None]:
        def fill(p: Portfolio) -> None:
            agent = p.agent()
            for _ in range(n):
                situation(p, agent)

        return fill

    return portfolio_of


def statements_small_and_large(database: Database, handler: Any,
                               portfolio_of: Callable[[int], Callable[[Portfolio], Any]], later: datetime = NOW,
                               **setting_values: Any) -> tuple[int, int, CheckResult]:
    """The statements a check issues on a portfolio of 3, and again (at `later`) with 30 more; the second result.

    Set-based checks give the same count for both, whatever the rows.
    """
    build(database, portfolio_of(3))
    with count_statements(database) as small:
        run_check(database, handler, **setting_values)
    build(database, portfolio_of(30))
    with count_statements(database) as large:
        result = run_check(database, handler, now=later, **setting_values)
    return len(small), len(large), result


def run_together(database: Database, handler: Any, before: str | tuple[str, ...],
                 **setting_values: Any) -> list[CheckResult]:
    """Two runs of a check in two transactions at once, as two replicas at the same moment.

    Each run is held just before its first statement starting with
    `before` (upper case) until the other arrives there too: both have read
    the same state, and they then race to write it.
    """
    barrier = threading.Barrier(2, timeout=20)
    arrived = threading.local()

    def meet(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(before) and not getattr(arrived, "done", False):
            arrived.done = True
            barrier.wait()

    event.listen(database.engine, "before_cursor_execute", meet)
    try:
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(run_check, database, handler, **setting_values) for _ in range(2)]
            return [run.result() for run in runs]
    finally:
        event.remove(database.engine, "before_cursor_execute", meet)
