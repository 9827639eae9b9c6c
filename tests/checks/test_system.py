"""System health checks against real things: databases, HTTP servers on loopback ports, an MCP server."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from mcp.server import MCPServer

from checks.system import (
    PROBE_TIMEOUT_SECONDS, SLOW_API_SECONDS, SLOW_DATABASE_MS, background_workers, database as database_check,
    external_apis, mcp_server,
)
from heartbeat_mcp.database import Database
from heartbeat_mcp.models import EngineState, TaskConfig
from heartbeat_mcp.task import CheckContext, CheckResult, HostInfo, Priority, RunStatus
from tests.factories import NOW, count_statements, settings

FAKE_KEY = "hb-test-key-7f3a9c1e55d2"
URL_SECRET = "url-secret-0b6e2d"


def context(database: Database, *, transports: tuple[str, ...] = (), session: Any = None,
            loop_alive: Callable[[], bool] | None = None, **setting_values: Any) -> CheckContext:
    return CheckContext(task="system", now=NOW, settings=settings(**setting_values), database=database,
                        host=HostInfo(transports=transports, engine_loop_alive=loop_alive), session=session)


def as_json(result: CheckResult) -> str:
    return json.dumps({"items": [dataclasses.asdict(i) for i in result.items], "metrics": result.metrics,
                       "data": result.data}, default=str)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No endpoint configured, whatever the machine running the tests has set."""
    for name in list(os.environ):
        if name.startswith(("ZILLOW_API_", "GOOGLE_PLACES_API_", "DOCUSEAL_API_", "HEARTBEAT_API_",
                            "HEARTBEAT_REMOTE_MCP_")):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def unused_database(tmp_path: Path) -> Iterator[Database]:
    """The probes never touch the database, but a context needs one."""
    database = Database(f"sqlite:///{tmp_path / 'unused.db'}")
    yield database
    database.dispose()


def closed_port() -> int:
    """A loopback port with nothing listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- database -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_reachable_database_is_ok_with_its_latency(database: Database) -> None:
    result = await database_check(context(database))

    assert result.data["system_health"] == {"database": "ok"}
    assert 0 < result.data["latency_ms"] < SLOW_DATABASE_MS
    assert result.items == [] and result.status is RunStatus.success


@pytest.mark.anyio
async def test_an_unreachable_database_is_an_urgent_item(tmp_path: Path) -> None:
    gone = Database(f"sqlite:///{tmp_path / 'no-such-directory' / 'heartbeat.db'}")

    result = await database_check(context(gone))

    [item] = result.items
    assert (item.subject, item.priority) == ("system:database", Priority.urgent)
    assert result.data["system_health"] == {"database": "down"}
    assert "unable to open database file" in result.data["error"]
    gone.dispose()


@pytest.mark.anyio
async def test_a_database_slower_than_the_threshold_is_degraded(tmp_path: Path) -> None:
    """A writer holding SQLite's lock makes the ping wait (each transaction begins IMMEDIATE)."""
    path = tmp_path / "busy.db"
    busy = Database(f"sqlite:///{path}")
    assert (await busy.ping()).ok  # creates the file in WAL mode; the pool keeps that connection
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    release = threading.Timer(SLOW_DATABASE_MS / 1000 + 0.2, writer.commit)
    release.start()
    try:
        result = await database_check(context(busy))
    finally:
        release.join()
        writer.close()
        busy.dispose()

    [item] = result.items
    assert (item.subject, item.priority) == ("system:database", Priority.medium)
    assert result.data["system_health"] == {"database": "degraded"}
    assert result.data["latency_ms"] > SLOW_DATABASE_MS


# --- external APIs ------------------------------------------------------------------


class _Api(BaseHTTPRequestHandler):
    """/ok answers at once, /slow after the slow threshold, /fail with 503, /locked with 401."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = urlsplit(self.path).path
        self.server.authorizations[path] = self.headers.get("Authorization")  # type: ignore[attr-defined]
        if path == "/slow":
            time.sleep(SLOW_API_SECONDS + 0.3)
        self.send_response({"/fail": 503, "/locked": 401}.get(path, 200))
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.authorizations = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: the probe must time out."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


@pytest.mark.anyio
async def test_unconfigured_apis_are_reported_but_not_alerted(clean_env: Any, unused_database: Database) -> None:
    result = await external_apis(context(unused_database))

    assert result.data["system_health"] == {
        "zillow_api": "not_configured", "google_places": "not_configured", "docuseal": "not_configured"}
    assert result.items == [] and result.status is RunStatus.success
    assert result.metrics["apis_configured"] == 0


@pytest.mark.anyio
async def test_each_api_state_from_real_endpoints_probed_at_once(
    clean_env: pytest.MonkeyPatch, unused_database: Database, api_server: ThreadingHTTPServer, silent_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = f"http://127.0.0.1:{api_server.server_address[1]}"
    configured = {
        "ZILLOW_API_URL": f"{base}/ok?api_key={URL_SECRET}", "ZILLOW_API_KEY": FAKE_KEY,
        "GOOGLE_PLACES_API_URL": f"{base}/slow",
        "DOCUSEAL_API_URL": f"{base}/fail",
        "HEARTBEAT_API_LEDGER_URL": f"{base}/locked", "HEARTBEAT_API_LEDGER_KEY": FAKE_KEY,
        "HEARTBEAT_API_MLS_URL": f"http://127.0.0.1:{closed_port()}/listings",
        "HEARTBEAT_API_CRM_URL": f"http://127.0.0.1:{silent_port}/",
        "HEARTBEAT_API_TYPO_URL": "crm.example.com/api",
    }
    for name, value in configured.items():
        clean_env.setenv(name, value)
    caplog.set_level(logging.DEBUG)

    started = time.perf_counter()
    result = await external_apis(context(unused_database))
    elapsed = time.perf_counter() - started

    assert result.data["system_health"] == {
        "zillow_api": "ok", "google_places": "degraded", "docuseal": "degraded", "crm": "down",
        "ledger": "degraded", "mls": "down", "typo": "down",
    }
    items = {item.subject: item for item in result.items}
    assert {s: i.priority for s, i in items.items()} == {
        "api:google_places": Priority.medium, "api:docuseal": Priority.medium, "api:crm": Priority.high,
        "api:ledger": Priority.medium, "api:mls": Priority.high, "api:typo": Priority.high,
    }
    assert items["api:mls"].message == "The mls API is unreachable: it refused the connection."
    assert items["api:crm"].message == "The crm API is unreachable: it did not answer within 3 seconds."
    assert items["api:docuseal"].message == "The DocuSeal API is having trouble: it answers with server errors (HTTP 503)."
    assert items["api:google_places"].message.startswith("The Google Places API is having trouble: it took 1.")
    assert items["api:typo"].message == (
        "The typo API is unreachable: HEARTBEAT_API_TYPO_URL is not an http or https address.")
    assert items["api:ledger"].next_step == "Check HEARTBEAT_API_LEDGER_KEY."
    assert result.data["apis"]["zillow_api"]["endpoint"] == base
    # Concurrent: the timeout and the slow answer overlap instead of adding up.
    assert PROBE_TIMEOUT_SECONDS <= elapsed < PROBE_TIMEOUT_SECONDS + SLOW_API_SECONDS
    # The key is sent, as a bearer token, and shown nowhere.
    assert api_server.authorizations["/ok"] == f"Bearer {FAKE_KEY}"  # type: ignore[attr-defined]
    assert api_server.authorizations["/slow"] is None  # type: ignore[attr-defined]
    assert FAKE_KEY not in as_json(result) and URL_SECRET not in as_json(result)
    assert FAKE_KEY not in caplog.text


@pytest.mark.anyio
async def test_an_unresolvable_host_is_down(clean_env: pytest.MonkeyPatch, unused_database: Database) -> None:
    clean_env.setenv("ZILLOW_API_URL", "https://heartbeat-probe.invalid/v1")

    result = await external_apis(context(unused_database))

    [item] = result.items
    assert result.data["system_health"]["zillow_api"] == "down"
    assert item.message == "The Zillow API is unreachable: its host name does not resolve."
    assert result.data["apis"]["zillow_api"]["endpoint"] == "https://heartbeat-probe.invalid:443"


# --- background workers -------------------------------------------------------------


def _config(name: str, *, every: int = 300, late: timedelta, touched: timedelta = timedelta(days=1),
            **kw: Any) -> TaskConfig:
    """A heartbeat_config row due `late` ago, last rewritten by the engine `touched` ago."""
    return TaskConfig(**{"task_name": name, "enabled": True, "schedule_seconds": every, "next_run_at": NOW - late,
                         "paused": False, "created_at": NOW - timedelta(days=30), "updated_at": NOW - touched, **kw})


def run_workers(database: Database, rows: list[Any], **kw: Any) -> CheckResult:
    with database.transaction() as session:
        session.add_all(rows)
    return run_in_server(database, **kw)


def run_in_server(database: Database, **kw: Any) -> CheckResult:
    with database.transaction() as session:
        return background_workers(context(database, session=session, transports=("stdio",), **kw))


def test_tasks_more_than_two_intervals_late_have_missed_beats(database: Database) -> None:
    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    rows = [
        _config("stale_properties", late=11 * minute),
        _config("relationship_scores", every=3600, late=3 * hour),
        _config("contract_deadlines", late=9 * minute),
        _config("market_shifts", late=5 * hour, enabled=False),
        _config("price_changes", late=5 * hour, paused=True),
        _config("watchlist_matches", late=5 * hour, paused=True, paused_until=NOW - minute),
        _config("daily_digest", every=86400, late=72 * hour, lease_until=NOW + minute),
        _config("rescore_properties", late=5 * hour, touched=2 * minute),
    ]
    with database.transaction() as session:
        session.add_all(rows)

    with count_statements(database) as statements:
        result = run_in_server(database)

    assert {item.subject: item.priority for item in result.items} == {
        "heartbeat_task:stale_properties": Priority.high, "heartbeat_task:relationship_scores": Priority.high}
    stale = next(i for i in result.items if i.subject == "heartbeat_task:stale_properties")
    assert stale.message == ("The stale properties check has missed 2 beats: it was due 11 minutes ago and runs"
                             " every 5 minutes.")
    assert result.data["system_health"] == {"background_workers": "degraded"}
    assert len(statements) == 1


def test_tasks_on_time_are_ok(database: Database) -> None:
    result = run_workers(database, [_config("stale_properties", late=timedelta(minutes=-2))])

    assert result.items == [] and result.data["system_health"] == {"background_workers": "ok"}


def test_a_paused_engine_or_a_fresh_resume_is_not_missed_beats(database: Database) -> None:
    late = _config("stale_properties", late=timedelta(hours=1))
    engine = EngineState(id=1, paused=True, config_version=1, updated_at=NOW - timedelta(hours=2))

    paused = run_workers(database, [late, engine])
    assert paused.status is RunStatus.not_running and paused.items == []

    def resumed(ago: timedelta) -> CheckResult:
        with database.transaction() as session:
            state = session.get(EngineState, 1)
            state.paused, state.updated_at = False, NOW - ago
        return run_in_server(database)

    assert resumed(timedelta(minutes=3)).items == []
    assert [i.subject for i in resumed(timedelta(minutes=11)).items] == ["heartbeat_task:stale_properties"]


def test_run_once_has_no_loops_to_watch(database: Database) -> None:
    with count_statements(database) as statements, database.transaction() as session:
        result = background_workers(context(database, session=session))

    assert result.status is RunStatus.not_running
    assert result.data["system_health"] == {"background_workers": "not_running"}
    assert statements == []


def test_a_stopped_engine_loop_is_down(database: Database) -> None:
    result = run_workers(database, [], loop_alive=lambda: False)

    [item] = result.items
    assert (item.subject, item.priority) == ("system:engine_loop", Priority.high)
    assert result.data["system_health"] == {"background_workers": "down"}


# --- MCP server ---------------------------------------------------------------------


@pytest.fixture
def remote_mcp() -> Iterator[str]:
    """A real MCPServer over streamable HTTP on an ephemeral loopback port."""
    server = MCPServer("platform")

    @server.tool()
    def list_properties() -> list[str]:
        return []

    sock = socket.create_server(("127.0.0.1", 0))
    web = uvicorn.Server(uvicorn.Config(server.streamable_http_app(), log_level="warning"))
    thread = threading.Thread(target=web.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not web.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    web.should_exit = True
    thread.join(10)
    sock.close()


@pytest.mark.anyio
async def test_the_servers_transports_are_reported(clean_env: Any, unused_database: Database) -> None:
    up = await mcp_server(context(unused_database, transports=("stdio", "streamable-http")))
    once = await mcp_server(context(unused_database))

    assert up.data["system_health"] == {"mcp_server": "ok"} and up.status is RunStatus.success
    assert up.data["transports"] == ["stdio", "streamable-http"]
    assert once.data["system_health"] == {"mcp_server": "not_running"} and once.status is RunStatus.not_running


@pytest.mark.anyio
async def test_a_remote_mcp_server_answers_a_ping(
    clean_env: pytest.MonkeyPatch, unused_database: Database, remote_mcp: str,
) -> None:
    clean_env.setenv("HEARTBEAT_REMOTE_MCP_URL", f"{remote_mcp}?token={URL_SECRET}")

    result = await mcp_server(context(unused_database, transports=("stdio",)))

    assert result.data["system_health"] == {"mcp_server": "ok", "remote_mcp": "ok"}
    assert result.items == []
    assert result.data["remote_mcp"]["endpoint"] == remote_mcp.removesuffix("/mcp")
    assert URL_SECRET not in as_json(result)


@pytest.mark.anyio
async def test_a_remote_mcp_server_that_refuses_is_down_even_in_run_once(
    clean_env: pytest.MonkeyPatch, unused_database: Database,
) -> None:
    clean_env.setenv("HEARTBEAT_REMOTE_MCP_URL", f"http://127.0.0.1:{closed_port()}/mcp")

    result = await mcp_server(context(unused_database))

    [item] = result.items
    assert (item.subject, item.priority) == ("api:remote_mcp", Priority.high)
    assert item.message == "The remote MCP server is unreachable: it refused the connection."
    assert result.data["system_health"] == {"mcp_server": "not_running", "remote_mcp": "down"}
    assert result.status is RunStatus.action_needed
