"""System health: can the heartbeat itself do its job?

Each check reports its components in data["system_health"] (ok, degraded,
down, not_configured, not_running), which the report merges into one map;
`database`, `zillow_api`, `google_places` and `mcp_server` are always there.
Only a component that is degraded or down becomes an action item.

Secrets stay out of everything a check returns: endpoints are shown as
scheme://host:port only (a URL may carry a key in its query or user part),
API keys travel only in the Authorization header, and failures are described
in words chosen here, never by an exception's text (which may quote a URL).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import select

from checks.registry import BASE_CYCLE, SYSTEM, check
from heartbeat_mcp.httpclient import http_client, mcp_http_client
from heartbeat_mcp.models import EngineState, TaskConfig
from heartbeat_mcp.registry import spoken_task
from heartbeat_mcp.schedule import speak_duration
from heartbeat_mcp.store import ENGINE_ROW, is_paused
from heartbeat_mcp.task import ActionItem, CheckContext, CheckResult, Priority, RunStatus
from heartbeat_mcp.unreachable import why_unreachable

OK, DEGRADED, DOWN, NOT_CONFIGURED, NOT_RUNNING = "ok", "degraded", "down", "not_configured", "not_running"

# A SELECT 1 slower than this means the database is struggling (a healthy
# local or same-region database answers in a few milliseconds).
SLOW_DATABASE_MS = 500.0
# External calls: one GET per endpoint, abandoned after PROBE_TIMEOUT_SECONDS;
# slower than SLOW_API_SECONDS makes the voice tools that use it sluggish.
PROBE_TIMEOUT_SECONDS = 3.0
SLOW_API_SECONDS = 1.5
# A task is missing beats when it is this many of its intervals late.
MISSED_BEATS = 2


def _health(component: str, state: str, **data: Any) -> dict[str, Any]:
    return {"system_health": {component: state}, **data}


def speak_seconds(seconds: float) -> str:
    return f"{seconds:.1f} seconds"


def _not_running(component: str, reason: str, **data: Any) -> CheckResult:
    """Neither good nor bad: what this check watches is not running here, on purpose."""
    return CheckResult(data=_health(component, NOT_RUNNING, reason=reason, **data),
                       status_override=RunStatus.not_running)


# --- database -----------------------------------------------------------------------


@check("database", group=SYSTEM, schedule=BASE_CYCLE, system=True, description="Verify database connectivity and latency")
async def database(ctx: CheckContext) -> CheckResult:
    """Connect and run SELECT 1 through the engine's own pool, timing the round trip.

    Unreachable → down, urgent (no check can read the portfolio and nothing
    is recorded). Slower than SLOW_DATABASE_MS (500 ms) → degraded, medium
    (domain.md names no priority for slowness; every check slows with it, but
    nothing is lost yet). data: system_health.database, latency_ms.
    """
    ping = await ctx.database.ping()
    latency = round(ping.latency_ms, 1)
    metrics = {"latency_ms": latency}
    if not ping.ok:
        return CheckResult(items=[ActionItem(
            subject="system:database", priority=Priority.urgent,
            message="The heartbeat cannot reach its database, so no check can run.",
            next_step="Check that the database server is running and reachable; the error is in this item's details.",
            data={"error": ping.error},
        )], metrics=metrics, data=_health("database", DOWN, latency_ms=latency, error=ping.error))
    if ping.latency_ms > SLOW_DATABASE_MS:
        return CheckResult(items=[ActionItem(
            subject="system:database", priority=Priority.medium,
            message=f"The database is slow: a simple query took {speak_seconds(ping.latency_ms / 1000)}.",
            next_step="Look for a long-running job or an overloaded database server.",
            data={"latency_ms": latency},
        )], metrics=metrics, data=_health("database", DEGRADED, latency_ms=latency))
    return CheckResult(metrics=metrics, data=_health("database", OK, latency_ms=latency))


# --- external APIs and the remote MCP server: probes --------------------------------

# component → environment prefix: <prefix>_URL and <prefix>_KEY.
KNOWN_APIS = {"zillow_api": "ZILLOW_API", "google_places": "GOOGLE_PLACES_API", "docuseal": "DOCUSEAL_API"}
CUSTOM_API = re.compile(r"HEARTBEAT_API_([A-Z0-9_]+)_URL")
REMOTE_MCP_PREFIX = "HEARTBEAT_REMOTE_MCP"
SPOKEN = {"zillow_api": "Zillow API", "google_places": "Google Places API", "docuseal": "DocuSeal API",
          "remote_mcp": "remote MCP server"}


@dataclass(frozen=True)
class Endpoint:
    """A service the heartbeat depends on, as configured in the environment."""

    component: str
    prefix: str
    url: str = field(default="", repr=False)
    key: str = field(default="", repr=False)

    @property
    def spoken(self) -> str:
        return SPOKEN.get(self.component, f"{self.component.replace('_', ' ')} API")

    @property
    def origin(self) -> str | None:
        """scheme://host:port, the only part of the URL ever shown; None when it is not an http(s) URL."""
        try:
            parts = urlsplit(self.url)
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return f"{parts.scheme}://{host}:{port}"


def configured_apis(environ: Mapping[str, str]) -> list[Endpoint]:
    """Zillow, Google Places and DocuSeal, then every HEARTBEAT_API_<NAME>_URL, read at run time.

    A HEARTBEAT_API_<NAME>_URL whose lower-cased name is a known component
    (HEARTBEAT_API_ZILLOW_API_URL) replaces that component's variables.
    """
    prefixes = dict(KNOWN_APIS)
    for name in sorted(environ):
        if match := CUSTOM_API.fullmatch(name):
            prefixes[match[1].lower()] = f"HEARTBEAT_API_{match[1]}"
    return [
        Endpoint(component, prefix, environ.get(f"{prefix}_URL", "").strip(), environ.get(f"{prefix}_KEY", "").strip())
        for component, prefix in prefixes.items()
    ]


@dataclass(frozen=True)
class Probe:
    state: str
    latency_ms: float | None = None
    http_status: int | None = None
    problem: str = ""  # why it is not ok, as the end of a spoken sentence

    def report(self, endpoint: Endpoint) -> dict[str, Any]:
        shown = {"state": self.state, "endpoint": endpoint.origin, "latency_ms": self.latency_ms,
                 "http_status": self.http_status, "problem": self.problem}
        return {k: v for k, v in shown.items() if v not in (None, "")}



def _invalid(endpoint: Endpoint) -> Probe:
    return Probe(DOWN, problem=f"{endpoint.prefix}_URL is not an http or https address")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


async def probe_api(client: httpx.AsyncClient, endpoint: Endpoint) -> Probe:
    """One GET, with the key as `Authorization: Bearer <key>` when one is configured.

    Any answer within PROBE_TIMEOUT_SECONDS means the service is up; it is
    degraded when the answer is a 5xx, a 401/403 (it is up but will not
    serve the heartbeat: a wrong or missing key) or slower than
    SLOW_API_SECONDS. Other 4xx (a base URL without a route answers 404)
    count as ok. No answer (refused, DNS failure, timeout) is down.
    """
    if not endpoint.url:
        return Probe(NOT_CONFIGURED)
    if endpoint.origin is None:
        return _invalid(endpoint)
    headers = {"Authorization": f"Bearer {endpoint.key}"} if endpoint.key else {}
    started = time.perf_counter()
    try:
        with anyio.fail_after(PROBE_TIMEOUT_SECONDS):
            response = await client.get(endpoint.url, headers=headers)
    except Exception as exc:  # noqa: BLE001 - every failure to get an answer means "down"
        return Probe(DOWN, _ms(started), problem=why_unreachable(exc, PROBE_TIMEOUT_SECONDS))
    latency, status = _ms(started), response.status_code
    if status >= 500:
        return Probe(DEGRADED, latency, status, f"it answers with server errors (HTTP {status})")
    if status in (401, 403):
        return Probe(DEGRADED, latency, status, f"it refuses the heartbeat's credentials (HTTP {status})")
    if latency > SLOW_API_SECONDS * 1000:
        return Probe(DEGRADED, latency, status, f"it took {speak_seconds(latency / 1000)} to answer")
    return Probe(OK, latency, status)


def probe_item(endpoint: Endpoint, probe: Probe) -> ActionItem | None:
    """down → high, degraded → medium; ok and not_configured are not findings."""
    if probe.state not in (DOWN, DEGRADED):
        return None
    if probe.state == DOWN:
        message = f"The {endpoint.spoken} is unreachable: {probe.problem}."
        next_step = (f"Check that the service is up and that {endpoint.prefix}_URL is right; "
                     "the tools that use it fail until it answers.")
    else:
        message = f"The {endpoint.spoken} is having trouble: {probe.problem}."
        next_step = (f"Check {endpoint.prefix}_KEY." if probe.http_status in (401, 403)
                     else "If it persists, check the service's status page; the tools that use it may be slow or fail.")
    return ActionItem(
        subject=f"api:{endpoint.component}", priority=Priority.high if probe.state == DOWN else Priority.medium,
        message=message, next_step=next_step, data=probe.report(endpoint),
    )


@check("external_apis", group=SYSTEM, schedule=BASE_CYCLE, system=True,
       description="Probe the external APIs (Zillow, Google Places, DocuSeal)")
async def external_apis(ctx: CheckContext) -> CheckResult:
    """Probe every configured external API at once, each with one GET and a 3-second limit.

    Configuration is read from the environment at each run (no restart to
    add a key): ZILLOW_API_URL/ZILLOW_API_KEY → zillow_api,
    GOOGLE_PLACES_API_URL/_KEY → google_places, DOCUSEAL_API_URL/_KEY →
    docuseal, HEARTBEAT_API_<NAME>_URL/_KEY → <name>. States: ok; degraded
    (5xx, 401/403, or slower than 1.5 s) → medium item; down (refused, DNS,
    timeout, not an http(s) URL) → high item; not_configured (no URL) is no
    alert. zillow_api and google_places always appear in system_health.
    """
    endpoints = configured_apis(os.environ)
    probes: dict[str, Probe] = {}

    async def probe_into(client: httpx.AsyncClient, endpoint: Endpoint) -> None:
        probes[endpoint.component] = await probe_api(client, endpoint)

    async with await http_client(PROBE_TIMEOUT_SECONDS) as client, anyio.create_task_group() as group:
        for endpoint in endpoints:
            group.start_soon(probe_into, client, endpoint)
    states = {e.component: probes[e.component].state for e in endpoints}
    return CheckResult(
        items=[item for e in endpoints if (item := probe_item(e, probes[e.component])) is not None],
        metrics={"apis_configured": sum(s != NOT_CONFIGURED for s in states.values()),
                 "apis_down": sum(s == DOWN for s in states.values()),
                 "apis_degraded": sum(s == DEGRADED for s in states.values())},
        data={"system_health": states, "apis": {e.component: probes[e.component].report(e) for e in endpoints}},
    )


# --- the engine's own loops ---------------------------------------------------------


@dataclass(frozen=True)
class LateTask:
    name: str
    due_at: datetime
    interval: timedelta

    def item(self, now: datetime) -> ActionItem:
        late = now - self.due_at
        return ActionItem(
            subject=f"heartbeat_task:{self.name}", priority=Priority.high,
            message=(f"The {spoken_task(self.name)} check has missed {late // self.interval} beats: it was due"
                     f" {speak_duration(late.total_seconds())} ago and runs every"
                     f" {speak_duration(self.interval.total_seconds())}."),
            next_step="Ask for the heartbeat status; if the check stays stuck, restart the heartbeat server.",
            data={"due_at": self.due_at.isoformat(), "interval_seconds": int(self.interval.total_seconds())},
        )


def _late_tasks(ctx: CheckContext) -> list[LateTask] | None:
    """Tasks missing beats, or None when the whole engine is paused (nothing is expected to run)."""
    rows = ctx.session.execute(
        select(TaskConfig.task_name, TaskConfig.schedule_seconds, TaskConfig.next_run_at, TaskConfig.updated_at,
               TaskConfig.paused, TaskConfig.paused_until, TaskConfig.lease_until,
               EngineState.paused.label("engine_paused"), EngineState.paused_until.label("engine_paused_until"),
               EngineState.updated_at.label("engine_updated_at"))
        .select_from(TaskConfig)
        .outerjoin(EngineState, EngineState.id == ENGINE_ROW)
        .where(TaskConfig.enabled.is_(True), TaskConfig.next_run_at.is_not(None))
    ).all()
    now = ctx.now
    if any(is_paused(bool(r.engine_paused), r.engine_paused_until, now) for r in rows):
        return None
    late = []
    for row in rows:
        if is_paused(row.paused, row.paused_until, now) or (row.lease_until is not None and row.lease_until > now):
            continue
        # Lateness counts from when the engine could last have run the task.
        since = max(t for t in (row.next_run_at, row.updated_at, row.paused_until, row.engine_paused_until,
                                row.engine_updated_at) if t is not None)
        interval = timedelta(seconds=row.schedule_seconds)
        if now - since > MISSED_BEATS * interval:
            late.append(LateTask(row.task_name, row.next_run_at, interval))
    return late


@check("background_workers", read_only=True, group=SYSTEM, schedule=BASE_CYCLE, system=True,
       description="Make sure the heartbeat's own loops keep beating")
def background_workers(ctx: CheckContext) -> CheckResult:
    """Flag the engine's tasks that have stopped running on schedule ("missed beats").

    Rule (domain.md): an enabled, not paused task whose next_run_at is more
    than two of its intervals (schedule_seconds) in the past → high, one item
    per task. Choices: a task running right now (live lease) is not late;
    lateness counts from the latest of next_run_at, the end of a pause (the
    task's or the engine's), and the last time the engine rewrote the row
    (start-up, HEARTBEAT.md reload, run-time change — the engine updates
    every row then), so a restart after downtime or a resume is not reported
    as missed beats while the backlog drains. If the host says the engine
    loop has stopped (HostInfo.engine_loop_alive) → down, high.
    Not running (no item) in run-once (no server, no loop), when
    HEARTBEAT_ENABLED is false, and while the whole engine is paused.
    One statement (the heartbeat_config rows, a registry-sized table).
    """
    if not ctx.host.transports:
        return _not_running("background_workers", "no server is running (run-once)")
    if not ctx.settings.enabled:
        return _not_running("background_workers", "the heartbeat is disabled (HEARTBEAT_ENABLED)")
    if ctx.host.engine_loop_alive is not None and not ctx.host.engine_loop_alive():
        return CheckResult(items=[ActionItem(
            subject="system:engine_loop", priority=Priority.high,
            message="The heartbeat's background loop has stopped, so no check runs on its own.",
            next_step="Restart the heartbeat server; the logs say why the loop ended.",
        )], data=_health("background_workers", DOWN))
    late = _late_tasks(ctx)
    if late is None:
        return _not_running("background_workers", "the heartbeat is paused")
    return CheckResult(
        items=[task.item(ctx.now) for task in late],
        metrics={"late_tasks": len(late)},
        data=_health("background_workers", DEGRADED if late else OK, late_tasks=[t.name for t in late]),
    )


# --- the MCP server -----------------------------------------------------------------


async def ping_remote_mcp(endpoint: Endpoint) -> Probe:
    """Connect with the MCP client and send a ping, all within PROBE_TIMEOUT_SECONDS.

    `ping` exists only in the handshake era of the protocol (the SDK removed
    it from 2026-07-28 on), so the client connects in legacy mode, which
    MCPServer 2.x and every 1.x server (FastMCP) speak.
    """
    if endpoint.origin is None:
        return _invalid(endpoint)
    started = time.perf_counter()
    try:
        with anyio.fail_after(PROBE_TIMEOUT_SECONDS):
            async with (
                await mcp_http_client(PROBE_TIMEOUT_SECONDS) as http,
                Client(streamable_http_client(endpoint.url, http_client=http), mode="legacy",
                       read_timeout_seconds=PROBE_TIMEOUT_SECONDS) as client,
            ):
                await client.session.send_ping()
    except Exception as exc:  # noqa: BLE001 - no answer to the ping, whatever the reason, means "down"
        return Probe(DOWN, _ms(started), problem=why_unreachable(exc, PROBE_TIMEOUT_SECONDS))
    return Probe(OK, _ms(started))


@check("mcp_server", group=SYSTEM, schedule=BASE_CYCLE, system=True, description="Verify the MCP server is up")
async def mcp_server(ctx: CheckContext) -> CheckResult:
    """The server's transports are up; a configured remote MCP server answers a ping.

    mcp_server is ok when the host runs at least one transport (data lists
    them) and not_running in run-once. When HEARTBEAT_REMOTE_MCP_URL is set
    (the platform's own streamable-HTTP MCP server), it is pinged with the
    real MCP client: no answer → remote_mcp down, high item. A remote that
    is down is reported even in run-once (it is a finding about the remote,
    not about this process), so the run is then not "not running".
    """
    transports = list(ctx.host.transports)
    health = {"mcp_server": OK if transports else NOT_RUNNING}
    data: dict[str, Any] = {"system_health": health, "transports": transports}
    items = []
    remote = Endpoint("remote_mcp", REMOTE_MCP_PREFIX, os.environ.get(f"{REMOTE_MCP_PREFIX}_URL", "").strip())
    if remote.url:
        probe = await ping_remote_mcp(remote)
        health["remote_mcp"] = probe.state
        data["remote_mcp"] = probe.report(remote)
        item = probe_item(remote, probe)
        items = [item] if item is not None else []
    idle = not transports and not items
    return CheckResult(items=items, data=data, status_override=RunStatus.not_running if idle else None)
