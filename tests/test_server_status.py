"""The status answers from memory, and what it says stays true.

The status tool, the `heartbeat://status` resource and the health routes
answer from the snapshot the engine keeps (heartbeat_mcp/snapshot.py), so
asking never waits on a database a cycle keeps busy. These tests show what
that must not cost: a change made here shows at once, one made by another
replica within a tick, and a database outage as soon as the engine meets it.
The clock stands still unless a test moves it, so "at once" means without a
tick.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import anyio
import pytest
from mcp import Client
from sqlalchemy import text
from sqlalchemy.engine import make_url

from heartbeat_mcp.clock import FakeClock
from heartbeat_mcp.database import Database
from heartbeat_mcp.engine import HeartbeatEngine
from heartbeat_mcp.server import build_server
from heartbeat_mcp.server.health import heartbeat_checks
from heartbeat_mcp.task import CheckContext, CheckPack, CheckResult, TaskSpec
from heartbeat_mcp.schedule import EveryCycle
from tests.engine_support import TcpProxy
from tests.server_fixtures import (  # noqa: F401 - clock, connect, engine, mode, server: fixtures
    TEST_PACK, call, client_of, clock, connect, engine, make_engine, mode, server,
)

pytestmark = pytest.mark.anyio

STATUS = "heartbeat://status"
TOP_ITEM = "The purchase agreement for 12 Oak Street is overdue by 3 days."


async def status_resource(client: Client) -> dict[str, Any]:
    return json.loads((await client.read_resource(STATUS)).contents[0].text)


async def until(ask: Callable[[], Awaitable[dict[str, Any]]], holds: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Ask again until the answer holds (the engine's loop works beside the test)."""
    with anyio.fail_after(10):
        while not holds(answer := await ask()):
            await anyio.sleep(0.02)
    return answer


async def test_a_pause_resume_or_configure_made_here_shows_in_the_status_at_once(
    connect, engine: HeartbeatEngine
) -> None:
    async with connect() as client:
        assert (await call(client, "get_heartbeat_status"))["state"] == "running"

        await call(client, "pause_heartbeat")
        status = await call(client, "get_heartbeat_status")
        assert status["state"] == "paused" and status["speech"].startswith("The heartbeat is paused until you resume it.")
        assert (await status_resource(client))["state"] == "paused"
        [state] = (await heartbeat_checks(engine))[:1]
        assert (state.value, state.output) == ("paused", "paused until resumed")

        await call(client, "resume_heartbeat")
        assert (await call(client, "get_heartbeat_status"))["state"] == "running"
        assert (await status_resource(client))["state"] == "running"

        await call(client, "pause_heartbeat", task="listings", duration="two hours")
        assert (await call(client, "get_heartbeat_status"))["tasks_paused"] == ["stale_listings", "stale_offers"]

        await call(client, "configure_heartbeat_task", task="market watch", enabled=False)
        await call(client, "configure_heartbeat_task", interval="every 10 minutes")
        status = await call(client, "get_heartbeat_status")
        assert (status["tasks_enabled"], status["tasks_total"], status["base_interval_seconds"]) == (4, 5, 600)
        assert (await status_resource(client))["tasks_enabled"] == 4


async def test_a_cycle_shows_in_the_status_as_soon_as_it_has_run(connect) -> None:
    async with connect() as client:
        before = await call(client, "get_heartbeat_status")
        await call(client, "trigger_heartbeat_cycle")
        after = await call(client, "get_heartbeat_status")
    assert before["last_cycle"] is None and sum(before["open_action_items"].values()) == 0
    assert after["last_cycle"] is not None
    assert after["open_action_items"] == {"low": 1, "medium": 1, "high": 1, "urgent": 1}
    assert after["speech"].endswith(f"4 items need attention, 2 urgent or high; the top one: {TOP_ITEM}")


async def test_a_change_made_by_another_replica_shows_within_a_tick(
    postgres_url: str, clock: FakeClock, mode: str
) -> None:
    """PostgreSQL is where replicas share a database (an SQLite file serves one engine)."""
    database = Database(postgres_url)
    serving = make_engine(database, clock=clock)
    other = make_engine(database, clock=clock)  # another replica on the same database
    async with client_of(build_server(serving), mode) as client:
        assert (await call(client, "get_heartbeat_status"))["state"] == "running"
        await other.execute_cycle()
        await other.pause()
        clock.advance(timedelta(seconds=serving.tick_seconds))

        status = await until(lambda: call(client, "get_heartbeat_status"), lambda s: s["state"] == "paused")
        assert status["open_action_items"] == {"low": 1, "medium": 1, "high": 1, "urgent": 1}
        assert status["last_cycle"] is not None and TOP_ITEM in status["speech"]
        assert (await status_resource(client))["state"] == "paused"

        await other.resume()
        await other.configure("market watch", enabled=False)
        clock.advance(timedelta(seconds=serving.tick_seconds))
        status = await until(lambda: call(client, "get_heartbeat_status"), lambda s: s["state"] == "running")
        assert status["tasks_enabled"] == 4
    database.dispose()


async def test_a_database_outage_shows_in_the_status_once_the_engine_meets_it(
    postgres_url: str, clock: FakeClock, mode: str
) -> None:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    database = Database(url.set(host="127.0.0.1", port=proxy.port))
    engine = make_engine(database, clock=clock)
    try:
        async with client_of(build_server(engine), mode) as client:
            assert (await call(client, "get_heartbeat_status"))["database"] == "ok"
            proxy.down()
            clock.advance(timedelta(seconds=engine.tick_seconds))  # the loop's next tick meets the outage

            status = await until(lambda: call(client, "get_heartbeat_status"), lambda s: s["database"] == "down")
            assert status["speech"].startswith("The heartbeat can't reach its database")
            assert status["open_action_items"] == {} and status["tasks_total"] == 0  # nothing it cannot vouch for
            assert (await status_resource(client))["database"] == "down"
            [state, *_] = await heartbeat_checks(engine)
            assert state.value == "running"

            proxy.restore()
            clock.advance(timedelta(seconds=engine.tick_seconds))
            status = await until(lambda: call(client, "get_heartbeat_status"), lambda s: s["database"] == "ok")
            assert status["tasks_total"] == 5
    finally:
        proxy.close()
        database.dispose()


class HoldsTheItems:
    """A check that locks the action items table and keeps it until the test lets go."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.release = threading.Event()

    def __call__(self, ctx: CheckContext) -> CheckResult:
        if ctx.session.get_bind().dialect.name == "postgresql":
            ctx.session.execute(text("LOCK TABLE heartbeat_action_items IN ACCESS EXCLUSIVE MODE"))
        else:
            ctx.session.execute(text("SELECT 1"))  # its transaction began with SQLite's write lock
        self.holding.set()
        self.release.wait(20)
        return CheckResult()


@pytest.fixture
def holder() -> Any:
    found = HoldsTheItems()
    yield found
    found.release.set()


async def test_the_status_answers_while_a_check_holds_the_database(
    database: Database, clock: FakeClock, mode: str, holder: HoldsTheItems
) -> None:
    pack = CheckPack("holding", (*TEST_PACK.tasks, TaskSpec("hold_items", holder, EveryCycle(), "Held", "Hold the items")))
    server = build_server(make_engine(database, pack, clock=clock))
    async with client_of(server, mode) as client, anyio.create_task_group() as group:
        await call(client, "get_heartbeat_status")

        async def trigger() -> None:
            await call(client, "trigger_heartbeat_cycle", task="hold items")

        group.start_soon(trigger)
        await anyio.to_thread.run_sync(holder.holding.wait, 5)
        with anyio.fail_after(5):  # read from the database, these would wait for the check to let go
            status = await call(client, "get_heartbeat_status")
            shown = await status_resource(client)
        assert status["running_tasks"] == shown["running_tasks"] == ["hold_items"]
        holder.release.set()
