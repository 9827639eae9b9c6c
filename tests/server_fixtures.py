"""Fixtures for the MCP server tests: a small check pack of our own, the engine and server around it.

The pack's checks return fixed findings, so the server tests do not depend on
the realtor checks. `PROCESS_PACK` is what the subprocess tests install
through an entry point (a throw-away .dist-info on PYTHONPATH), the same way
a real pack plugs in.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import mcp_types
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp import Client
from mcp.server import MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from sqlalchemy import select

from heartbeat_mcp import store
from heartbeat_mcp.clock import FakeClock
from heartbeat_mcp.database import Database
from heartbeat_mcp.engine import HeartbeatEngine
from heartbeat_mcp.migrate import upgrade
from heartbeat_mcp.models import EngineState
from heartbeat_mcp.schedule import Every, EveryCycle
from heartbeat_mcp.server import build_server
from heartbeat_mcp.settings import Settings
from heartbeat_mcp.task import ActionItem, CheckContext, CheckPack, CheckResult, HostInfo, Priority, TaskSpec

TIMEZONE = "America/New_York"
START = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)  # a Monday, 8 AM in New York
MODES = ["auto", "legacy"]  # the modern era (in-process direct dispatch) and the initialize handshake


def stale_listings(ctx: CheckContext) -> CheckResult:
    return CheckResult(items=[
        ActionItem("listing:12", Priority.high, "12 Oak Street has had no activity for 9 days.",
                   "Call the seller about a price review.", {"properties": [12]}),
        ActionItem("listing:40", Priority.medium, "40 Elm Road has had no activity for 4 days.", "", {"properties": [40]}),
    ], metrics={"rows_examined": 2})


def stale_offers(ctx: CheckContext) -> CheckResult:
    return CheckResult(items=[ActionItem("offer:7", Priority.low, "The offer on 7 Pine Lane has waited 2 days for an answer.")])


def signing_deadlines(ctx: CheckContext) -> CheckResult:
    return CheckResult(items=[ActionItem("contract:3", Priority.urgent,
                                         "The purchase agreement for 12 Oak Street is overdue by 3 days.",
                                         "Send it to the buyer for signature.", {"contracts": [3]})])


def nothing(ctx: CheckContext) -> CheckResult:
    return CheckResult()


TEST_PACK = CheckPack("server-tests", (
    TaskSpec("stale_listings", stale_listings, EveryCycle(), "Listings", "Flag listings with no recent activity"),
    TaskSpec("stale_offers", stale_offers, EveryCycle(), "Listings", "Flag offers waiting for an answer"),
    TaskSpec("signing_deadlines", signing_deadlines, Every(900), "Paperwork", "Warn about contract deadlines"),
    TaskSpec("unsigned_forms", nothing, Every(900), "Paperwork", "Find forms nobody has signed"),
    TaskSpec("price_drops", nothing, Every(3600), "Market watch", "Track price changes on watched homes"),
))
TASK_NAMES = [t.name for t in TEST_PACK.tasks]


class Gate:
    """A check that blocks until the test opens the gate: to hold a cycle open."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, ctx: CheckContext) -> CheckResult:
        self.entered.set()
        self.opened.wait(20)
        return CheckResult()


# --- subprocess pack: installed through an entry point ----------------------------------


def quick_scan(ctx: CheckContext) -> CheckResult:
    return CheckResult(items=[ActionItem("scan:1", Priority.high, "9 Birch Court needs a follow-up call.")])


def slow_scan(ctx: CheckContext) -> CheckResult:
    """Stuck outside the database for longer than any shutdown should wait."""
    time.sleep(60)
    return CheckResult()


PROCESS_PACK = CheckPack("process-tests", (
    TaskSpec("quick_scan", quick_scan, Every(3600), "Test checks", "Scan the test portfolio"),
    TaskSpec("slow_scan", slow_scan, Every(3600), "Test checks", "A scan that never finishes in time"),
))


def install_process_pack(directory: Path) -> None:
    """Make `PROCESS_PACK` an installed check pack for processes started with PYTHONPATH=directory."""
    info = directory / "heartbeat_process_tests-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: heartbeat-process-tests\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[heartbeat_mcp.checks]\nprocess_tests = tests.server_fixtures:PROCESS_PACK\n")


# --- engines and servers over the test database -----------------------------------------


def make_engine(database: Database, pack: CheckPack = TEST_PACK, *, clock: FakeClock | None = None,
                **settings: Any) -> HeartbeatEngine:
    url = database.url.render_as_string(hide_password=False)
    return HeartbeatEngine(database, Settings(database_url=url, timezone=TIMEZONE, **settings), packs=[pack],
                           clock=clock, host=HostInfo(transports=("memory",)))


@pytest.fixture
def clock() -> FakeClock:
    """The engine's time: it stands still, so the loop runs a scheduled cycle only when a test moves it."""
    return FakeClock(START)


@pytest.fixture
def engine(database: Database, clock: FakeClock) -> HeartbeatEngine:
    return make_engine(database, clock=clock)


@pytest.fixture
def server(engine: HeartbeatEngine) -> MCPServer:
    return build_server(engine)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@asynccontextmanager
async def client_of(server: MCPServer, mode: str, **kwargs: Any) -> AsyncIterator[Client]:
    """An in-process client of `server` in the protocol era `mode`."""
    async with Client(server, mode=mode, **kwargs) as client:
        yield client


@pytest.fixture
def connect(server: MCPServer, mode: str) -> Callable[..., Any]:
    """`async with connect() as client`: a client of the fixture server in this test's protocol era."""
    return lambda **kwargs: client_of(server, mode, **kwargs)


@pytest.fixture
def catalogue(tmp_path: Path, clock: FakeClock, mode: str) -> Iterator[Callable[[], Any]]:
    """`async with catalogue() as client`, for what the server declares: that does not depend on the database,
    so one throw-away SQLite file serves."""
    database = Database(f"sqlite:///{tmp_path / 'catalogue.db'}")
    upgrade(database, [TEST_PACK])
    server = build_server(make_engine(database, clock=clock))
    yield lambda: client_of(server, mode)
    database.dispose()


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured result, after checking that it succeeded."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def refusal(client: Client, tool: str, **arguments: Any) -> str:
    """The spoken message of a tool call that must fail."""
    return spoken_error(await client.call_tool(tool, arguments))


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `predicate` (blocking database reads are fine) until it returns something truthy."""
    with anyio.fail_after(timeout):
        while not (found := await anyio.to_thread.run_sync(predicate)):
            await anyio.sleep(0.02)
    return found


@asynccontextmanager
async def resource_updates(
    open_client: Callable[..., Any], uris: list[str]
) -> AsyncIterator[tuple[Client, MemoryObjectReceiveStream[str]]]:
    """A client subscribed to `uris` the way its protocol era does it, and the stream of URIs it is told changed.

    Modern clients listen (`subscriptions/listen`); handshake-era clients send
    `resources/subscribe` and receive `notifications/resources/updated`.
    """
    send, told = anyio.create_memory_object_stream[str](100)

    async def on_message(message: Any) -> None:
        if isinstance(message, mcp_types.ResourceUpdatedNotification):
            send.send_nowait(message.params.uri)

    async with open_client(message_handler=on_message) as client:
        if client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                for uri in uris:
                    await client.subscribe_resource(uri)
            yield client, told
            return
        async with client.listen(resource_subscriptions=uris) as subscription, anyio.create_task_group() as group:

            async def pump() -> None:
                async for event in subscription:
                    send.send_nowait(event.uri)

            group.start_soon(pump)
            yield client, told
            group.cancel_scope.cancel()


async def told_of(updates: MemoryObjectReceiveStream[str], expected: set[str], timeout: float = 5.0) -> set[str]:
    """Wait until every URI in `expected` was announced; returns everything announced meanwhile."""
    seen: set[str] = set()
    with anyio.fail_after(timeout):
        while not expected <= seen:
            seen.add(await updates.receive())
    return seen


def configuration(database: Database) -> dict[str, Any]:
    """Everything a tool may change: compared before and after a refused request."""
    with database.sessions() as session:
        state = session.scalar(select(EngineState))
        engine_part = (state.paused, state.paused_until, state.base_interval_seconds, state.config_version) if state else None
        tasks = {
            r.task_name: (r.enabled, r.paused, r.paused_until, r.schedule, r.schedule_seconds, r.override_enabled,
                          r.override_schedule)
            for r in store.task_rows(session)
        }
    return {"engine": engine_part, "tasks": tasks}


def word_count(text: str) -> int:
    return len(text.split())


def sentence_count(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?…])\s+", text.strip()) if s])


def speakable(text: str) -> bool:
    """Short, no markup or JSON, no traceback, no ids in brackets."""
    return (
        0 < word_count(text) <= 40 and sentence_count(text) <= 2
        and not any(c in text for c in "{}[]`*#|_") and "Traceback" not in text
    )


def spoken_error(result: Any) -> str:
    """The message of an isError tool result, without the SDK's "Error executing tool X: " prefix."""
    assert result.is_error, result
    text = result.content[0].text
    return text.split(": ", 1)[1] if text.startswith("Error executing tool ") else text


@pytest.fixture
def gate() -> Iterator[Gate]:
    found = Gate()
    yield found
    found.opened.set()
