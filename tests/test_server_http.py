"""The HTTP face of the server: health routes, /metrics, the bearer token, DNS-rebinding protection.

Each test serves the real streamable-HTTP app (uvicorn, the token middleware,
the SDK's transport security) in this process, so it runs on both databases.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import anyio
import httpx
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from heartbeat_mcp.clock import FakeClock
from heartbeat_mcp.database import Database
from heartbeat_mcp.engine import HeartbeatEngine
from heartbeat_mcp.server import build_server
from heartbeat_mcp.server.host import EngineHost
from heartbeat_mcp.server.run import http_transport, run_server
from heartbeat_mcp.task import CheckContext, CheckPack, CheckResult
from tests.engine_support import TcpProxy
from tests.server_fixtures import START, TASK_NAMES, TEST_PACK, call, clock, make_engine  # noqa: F401 - clock: a fixture

pytestmark = pytest.mark.anyio

TOKEN = "correct-horse-battery-staple"
HEALTH_ROUTES = ["/health", "/health/heartbeat", "/health/database", "/health/external-apis",
                 "/health/background-workers", "/health/metrics"]
GUARDED_ROUTES = [*HEALTH_ROUTES[1:], "/metrics"]
SAMPLE = re.compile(r'^([a-z_]+)(\{(?:[a-z_]+="[^"]*",?)*\})? (-?[0-9.e+]+|\+Inf|NaN)$')


async def wait_for_port(port: int) -> None:
    with anyio.fail_after(10):
        while True:
            try:
                await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                return
            except OSError:
                await anyio.sleep(0.02)


@asynccontextmanager
async def serving(engine: HeartbeatEngine, port: int) -> AsyncIterator[httpx.AsyncClient]:
    """The engine's server on 127.0.0.1:port, as `heartbeat-mcp serve --transport http` runs it."""
    host = EngineHost(engine)
    shutdown = anyio.Event()
    async with anyio.create_task_group() as group:
        transport = http_transport("127.0.0.1", port, engine.settings)
        group.start_soon(run_server, host, build_server(engine, host), transport, shutdown)
        await wait_for_port(port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as web:
            yield web
        shutdown.set()


def mcp_client(port: int, token: str | None = None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=create_mcp_http_client(headers)))


def samples(exposition: str) -> dict[str, float]:
    """'name{labels}' -> value, after checking every line is valid text exposition."""
    found: dict[str, float] = {}
    declared: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            declared.add(line.split()[2])
        elif not line.startswith("# HELP "):
            match = SAMPLE.match(line)
            assert match, line
            assert any(match[1].startswith(name) for name in declared), f"{line}: no # TYPE before it"
            found[match[1] + (match[2] or "")] = float(match[3])
    return found


# --- health -----------------------------------------------------------------------------


async def test_every_health_route_answers_health_json_with_pass_warn_or_fail(
    database: Database, clock: FakeClock, free_tcp_port: int, subtests
) -> None:
    async with serving(make_engine(database, clock=clock), free_tcp_port) as web:
        for route in HEALTH_ROUTES:
            answer = await web.get(route)
            body = answer.json()
            with subtests.test(route):
                assert answer.headers["content-type"] == "application/health+json"
                assert (answer.status_code, body["status"]) == (200, "pass"), body
                assert body["checks"] and all(re.fullmatch(r"[A-Za-z]+:[A-Za-z]+", key) for key in body["checks"])
                for observations in body["checks"].values():
                    assert all(o["status"] in ("pass", "warn", "fail") and o["time"] for o in observations)


def price_feed_down(ctx: CheckContext) -> CheckResult:
    raise ConnectionError("the price feed did not answer")


async def test_health_warns_when_a_check_keeps_failing_and_names_it(database: Database, clock: FakeClock,
                                                                     free_tcp_port: int) -> None:
    pack = CheckPack("failing", tuple(replace(t, handler=price_feed_down) if t.name == "price_drops" else t
                                      for t in TEST_PACK.tasks))
    engine = make_engine(database, pack, clock=clock)
    async with serving(engine, free_tcp_port) as web:
        for _ in range(3):
            await engine.execute_cycle("price drops")
        answer = await web.get("/health/heartbeat")
    assert (answer.status_code, answer.json()["status"]) == (200, "warn")
    assert answer.json()["checks"]["heartbeat:failingTasks"][0]["output"] == "price_drops"


async def test_an_unreachable_database_fails_health_with_503_and_metrics_still_answer(
    postgres_url: str, clock: FakeClock, free_tcp_port: int
) -> None:
    real = Database(postgres_url)
    proxy = TcpProxy(real.url.host or "127.0.0.1", real.url.port or 5432)
    database = Database(real.url.set(host="127.0.0.1", port=proxy.port))
    try:
        async with serving(make_engine(database, clock=clock), free_tcp_port) as web:
            assert (await web.get("/health/database")).status_code == 200
            proxy.down()
            database.engine.dispose()
            answers = {route: await web.get(route) for route in ("/health", "/health/database", "/metrics")}
            assert answers["/health/database"].status_code == 503
            assert answers["/health/database"].json()["status"] == "fail"
            assert answers["/health"].status_code == 503 and answers["/health"].json()["status"] == "fail"
            assert answers["/metrics"].status_code == 200
            assert samples(answers["/metrics"].text)["heartbeat_database_up"] == 0
            proxy.restore()
    finally:
        proxy.close()
        database.dispose()
        real.dispose()


# --- metrics ----------------------------------------------------------------------------


async def test_metrics_give_cycle_durations_runs_by_status_items_by_priority_and_last_successes(
    database: Database, clock: FakeClock, free_tcp_port: int
) -> None:
    engine = make_engine(database, clock=clock)
    async with serving(engine, free_tcp_port) as web:
        await engine.execute_cycle()
        answer = await web.get("/metrics")
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    found = samples(answer.text)
    assert found["heartbeat_up"] == 1 and found["heartbeat_database_up"] == 1
    assert found["heartbeat_cycle_duration_seconds_count"] == 1
    assert found['heartbeat_cycle_duration_seconds_bucket{le="+Inf"}'] == 1
    buckets = [v for k, v in found.items() if k.startswith("heartbeat_cycle_duration_seconds_bucket")]
    assert buckets == sorted(buckets)  # cumulative
    assert found['heartbeat_task_runs_total{task="stale_listings",status="action_needed"}'] == 1
    assert found['heartbeat_task_runs_total{task="price_drops",status="success"}'] == 1
    for priority in ("low", "medium", "high", "urgent"):
        assert found[f'heartbeat_open_action_items{{priority="{priority}"}}'] == 1
    for task in TASK_NAMES:
        assert found[f'heartbeat_task_last_success_timestamp_seconds{{task="{task}"}}'] == START.timestamp()


# --- who may ask ------------------------------------------------------------------------


async def test_with_a_token_only_a_bare_liveness_probe_is_answered_without_it(
    database: Database, clock: FakeClock, free_tcp_port: int, subtests
) -> None:
    async with serving(make_engine(database, clock=clock, http_token=TOKEN), free_tcp_port) as web:
        alive = await web.get("/health")
        assert (alive.status_code, alive.json()) == (200, {"status": "pass"})
        for route in [*GUARDED_ROUTES, "/mcp"]:
            with subtests.test(route):
                for headers in ({}, {"Authorization": "Bearer not-the-token-at-all"}, {"Authorization": TOKEN}):
                    refused = await web.get(route, headers=headers)
                    assert refused.status_code == 401, (route, headers)
                    assert refused.headers["www-authenticate"].startswith("Bearer")
                if route != "/mcp":
                    allowed = await web.get(route, headers={"Authorization": f"Bearer {TOKEN}"})
                    assert allowed.status_code == 200
        full = await web.get("/health", headers={"Authorization": f"Bearer {TOKEN}"})
        assert "heartbeat:state" in full.json()["checks"]


async def test_an_mcp_client_is_served_over_http_only_with_the_token(database: Database, clock: FakeClock,
                                                                     free_tcp_port: int) -> None:
    async with serving(make_engine(database, clock=clock, http_token=TOKEN), free_tcp_port):
        async with mcp_client(free_tcp_port, TOKEN) as client:
            status = await call(client, "get_heartbeat_status")
        with pytest.RaisesGroup(MCPError, flatten_subgroups=True), anyio.fail_after(10):
            async with mcp_client(free_tcp_port) as client:
                await client.list_tools()
    assert status["state"] == "running"


@pytest.mark.parametrize("headers", [{"Host": "evil.example"}, {"Host": "evil.example:8765"},
                                     {"Origin": "http://evil.example"}], ids=["host", "host-port", "origin"])
async def test_a_request_from_a_foreign_site_is_refused(database: Database, clock: FakeClock, free_tcp_port: int,
                                                        headers: dict[str, str], subtests) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "page", "version": "1"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    async with serving(make_engine(database, clock=clock), free_tcp_port) as web:
        assert (await web.post("/mcp", json=initialize, headers=accept)).status_code == 200
        for route in ["/mcp", *GUARDED_ROUTES]:
            with subtests.test(route):
                if route == "/mcp":
                    refused = await web.post(route, json=initialize, headers={**accept, **headers})
                else:
                    refused = await web.get(route, headers=headers)
                assert refused.status_code in (403, 421), route


# --- secrets ----------------------------------------------------------------------------


async def test_no_response_or_log_line_shows_the_token_or_the_database_password(
    database: Database, clock: FakeClock, free_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    password = "pg-password-never-shown"
    # PostgreSQL here trusts local connections, so a URL carrying a password still connects.
    with_password = database if database.is_sqlite else Database(database.url.set(password=password))
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    try:
        async with serving(make_engine(with_password, clock=clock, http_token=TOKEN), free_tcp_port) as web:
            for headers in ({}, {"Authorization": "Bearer wrong-guess-at-it"}, {"Authorization": f"Bearer {TOKEN}"}):
                for route in [*HEALTH_ROUTES, "/metrics", "/mcp"]:
                    answer = await web.get(route, headers=headers)
                    seen.append(answer.text + repr(answer.headers))
            async with mcp_client(free_tcp_port, TOKEN) as client:
                await call(client, "trigger_heartbeat_cycle")
                for tool, arguments in (("get_heartbeat_status", {}), ("get_heartbeat_report", {}),
                                        ("pause_heartbeat", {"task": "marketing watch"})):
                    seen.append(repr(await client.call_tool(tool, arguments)))
                seen.append(repr(await client.read_resource("heartbeat://status")))
    finally:
        if with_password is not database:
            with_password.dispose()
    logged = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    for secret in (TOKEN, password):
        assert not any(secret in text for text in seen), secret
        assert secret not in logged, secret
    assert "pause_heartbeat" in logged  # the log was captured at all

