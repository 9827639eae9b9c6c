"""The engine survives its database going away, at start and in the middle of a cycle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from heartbeat_mcp.clock import FakeClock
from heartbeat_mcp.database import Database
from heartbeat_mcp.schedule import Every
from heartbeat_mcp.task import CheckResult, RunStatus, TaskSpec
from tests.engine_support import TcpProxy, engine_for, pack_of, runs
from tests.test_engine import START

pytestmark = pytest.mark.anyio


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, Database, Database]]:
    """A PostgreSQL database reached through a proxy we can cut, and a direct handle to inspect it."""
    url = make_url(postgres_url)
    tcp = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through = Database(url.set(port=tcp.port).render_as_string(hide_password=False))
    direct = Database(postgres_url)
    yield tcp, through, direct
    tcp.close()
    through.dispose()
    direct.dispose()


async def test_database_down_at_start_then_back(proxy) -> None:
    tcp, through, direct = proxy
    tcp.down()
    clock = FakeClock(START)
    engine = engine_for(through, pack_of(("steady", Every(60))), clock)
    assert await engine.tick() is None
    status = await engine.get_status()
    assert status.database == "down" and "OperationalError" in (status.database_error or "")

    tcp.restore()
    assert await engine.tick() is None  # prepares: the first run comes after its jitter
    clock.advance(61)
    cycle = await engine.tick()
    assert cycle is not None and cycle.runs["steady"].status is RunStatus.success
    assert (await engine.get_status()).database == "ok"
    assert [r.status for r in runs(direct, "steady")] == ["success"]


async def test_while_the_database_is_down_a_tick_counts_from_when_the_step_began(proxy) -> None:
    """The loop's next wake is a tick after its step began: time that passed during the step (here, the clock moved
    while it ran) is not waited for twice."""
    tcp, through, _ = proxy
    tcp.down()
    clock = FakeClock(START)
    engine = engine_for(through, pack_of(("steady", Every(60))), clock, tick_seconds=60)
    began = clock.now()
    assert await engine.tick() is None
    clock.advance(45)
    assert await engine.next_wake(began) == began + timedelta(seconds=60)
    assert await engine.next_wake() == clock.now() + timedelta(seconds=60)  # a step beginning now


async def test_database_lost_mid_cycle_the_engine_survives_and_recovers(proxy) -> None:
    tcp, through, direct = proxy

    cuts = []

    def cuts_the_database(ctx):
        if not cuts:
            cuts.append(ctx.now)
            tcp.down()
        ctx.session.execute(text("SELECT 1"))
        return CheckResult()

    pack = pack_of(TaskSpec("cut", cuts_the_database, Every(60), "Tests"))
    clock = FakeClock(START)
    engine = engine_for(through, pack, clock, lease_seconds=30)
    await engine.tick()
    clock.advance(61)
    cycle = await engine.tick()
    assert cycle is not None and cycle.runs["cut"].status is RunStatus.failed
    assert not cycle.runs["cut"].recorded
    assert (await engine.get_status()).database == "down"
    report_error = None
    try:
        await engine.report()
    except Exception as exc:  # noqa: BLE001 - a speakable error, not a crash
        report_error = str(exc)
    assert report_error == "The heartbeat can't reach its database right now."

    tcp.restore()
    # The unrecorded run still holds its lease; once the lease expires the period runs again.
    assert await engine.tick() is None
    clock.advance(timedelta(seconds=31))
    cycle = await engine.tick()
    assert cycle is not None and cycle.runs["cut"].status is RunStatus.success
    history = runs(direct, "cut")
    assert [r.status for r in history] == ["success"]
    assert history[0].scheduled_for < cuts[0]  # the same period that was cut off, run once
