"""HTTP health routes beside /mcp, in `application/health+json`, and /metrics.

The documents follow draft-inadarei-api-health-check: `status` is pass, warn
or fail (fail answers 503), and `checks` maps "component:measurement" to a
list of observations. Each route answers from the engine this process runs
and the shared database. An external API being down is the API's outage, not
ours: it fails /health/external-apis but only warns in the overall /health.
When a bearer token guards the server, an unauthenticated GET /health is a
bare liveness probe: it answers the status alone, without touching the
database or describing anything.
"""

from __future__ import annotations

import json
import os
import resource
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mcp.server import MCPServer
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import Response

from heartbeat_mcp import __version__, store
from heartbeat_mcp.database import describe_error
from heartbeat_mcp.engine import ConfigurationError, HeartbeatEngine
from heartbeat_mcp.server.auth import is_authenticated
from heartbeat_mcp.server.metrics import CONTENT_TYPE, Metrics

HEALTH_JSON = "application/health+json"
EXTERNAL_APIS_CHECK = "external_apis"  # the system check whose findings /health/external-apis shows
SLOW_DATABASE_MS = 1000.0
RANK = {"pass": 0, "warn": 1, "fail": 2}
API_STATES = {"ok": "pass", "not_configured": "pass", "degraded": "warn", "down": "fail"}


@dataclass(frozen=True)
class Observation:
    key: str  # "component:measurement"
    component_type: str
    value: Any
    status: str
    time: datetime
    unit: str | None = None
    output: str = ""

    def json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"componentType": self.component_type, "observedValue": self.value}
        if self.unit:
            found["observedUnit"] = self.unit
        found |= {"status": self.status, "time": self.time.isoformat()}
        if self.output:
            found["output"] = self.output
        return found


def worst(statuses: list[str]) -> str:
    return max(statuses, key=RANK.__getitem__, default="pass")


def health_response(description: str, observations: list[Observation]) -> Response:
    status = worst([o.status for o in observations])
    checks: dict[str, list[dict[str, Any]]] = {}
    for o in observations:
        checks.setdefault(o.key, []).append(o.json())
    body = {"status": status, "version": "1", "releaseId": __version__, "serviceId": "heartbeat-mcp",
            "description": description, "checks": checks}
    problems = [f"{o.key}: {o.output}" for o in observations if o.status != "pass" and o.output]
    if problems:
        body["output"] = "; ".join(problems)
    return Response(json.dumps(body, indent=2), status_code=503 if status == "fail" else 200, media_type=HEALTH_JSON)


async def heartbeat_checks(engine: HeartbeatEngine) -> list[Observation]:
    status = await engine.get_status()
    now = engine.clock.now()
    state = {"running": "pass", "paused": "pass", "disabled": "warn"}.get(status.state, "fail")
    paused = f"paused until {status.paused_until.isoformat()}" if status.paused_until else "paused until resumed"
    found = [Observation("heartbeat:state", "component", status.state, state, now,
                         output=paused if status.state == "paused" else "" if state == "pass" else f"the engine is {status.state}")]
    if status.last_cycle is not None:
        age = (now - status.last_cycle).total_seconds()
        late = status.state == "running" and age > 3 * status.base_interval_seconds
        found.append(Observation("heartbeat:lastCycle", "component", round(age, 1), "warn" if late else "pass", now, "s",
                                 "no cycle for more than three base intervals" if late else ""))
    failing = status.tasks_failing
    found.append(Observation("heartbeat:failingTasks", "component", len(failing), "warn" if failing else "pass", now,
                             output=", ".join(failing)))
    if status.checklist_error:
        found.append(Observation("heartbeat:checklist", "component", False, "warn", now, output=status.checklist_error))
    return found


async def database_checks(engine: HeartbeatEngine) -> list[Observation]:
    ping = await engine.database.ping()
    now = engine.clock.now()
    if not ping.ok:
        return [Observation("database:responseTime", "datastore", None, "fail", now, "ms", ping.error)]
    slow = ping.latency_ms > SLOW_DATABASE_MS
    return [Observation("database:responseTime", "datastore", round(ping.latency_ms, 2), "warn" if slow else "pass",
                        now, "ms", "slow round trip" if slow else "")]


async def worker_checks(engine: HeartbeatEngine) -> list[Observation]:
    """The engine's loop, and tasks that missed two or more of their beats."""
    now = engine.clock.now()
    status = await engine.get_status()

    def overdue() -> list[str]:
        with engine.database.sessions() as session:
            return [
                r.task_name for r in store.task_rows(session, engine.registry.names)
                if r.enabled and not store.is_paused(r.paused, r.paused_until, now) and r.next_run_at is not None
                and r.next_run_at < now - timedelta(seconds=2 * r.schedule_seconds)
            ]

    late = await engine.database.run(overdue) if status.state == "running" and status.database == "ok" else []
    return [
        Observation("engine:loop", "system", engine.running, "pass" if engine.running else "fail", now,
                    output="" if engine.running else "the engine loop is not running"),
        Observation("tasks:overdue", "component", len(late), "warn" if late else "pass", now,
                    output=f"missed two or more beats: {', '.join(late)}" if late else ""),
        Observation("tasks:running", "component", len(status.running_tasks), "pass", now),
        Observation("replicas:alive", "system", status.replicas, "pass", now),
    ]


async def external_api_checks(engine: HeartbeatEngine) -> list[Observation]:
    now = engine.clock.now()
    if EXTERNAL_APIS_CHECK not in engine.registry:
        return [Observation("externalApis:check", "component", "not installed", "pass", now,
                            output="no external API check is installed")]

    def latest() -> tuple[datetime | None, dict[str, Any]]:
        with engine.database.sessions() as session:
            rows = store.task_rows(session, [EXTERNAL_APIS_CHECK])
            row = rows[0] if rows else None
            data = ((row.last_result or {}).get("data") or {}) if row else {}
            return (row.last_run_at if row else None), dict(data.get("system_health") or {})

    when, apis = await engine.database.run(latest)
    if when is None:
        return [Observation("externalApis:check", "component", "not run yet", "warn", now,
                            output="the external API check has not run yet")]
    return [
        Observation(f"{name}:status", "component", state, API_STATES.get(state, "warn"), when,
                    output="" if state == "ok" else str(state).replace("_", " "))
        for name, state in sorted(apis.items())
    ] or [Observation("externalApis:check", "component", "none configured", "pass", when)]


async def metric_checks(engine: HeartbeatEngine, metrics: Metrics) -> list[Observation]:
    now = engine.clock.now()
    report = await engine.report()
    found = [
        Observation("heartbeat:cycles", "component", metrics.cycles, "pass", now, output="cycles run by this process"),
        Observation("heartbeat:uptime", "system", round(engine.uptime, 1), "pass", now, "s"),
        Observation("actionItems:open", "component", sum(report.action_item_counts.values()), "pass", now),
        Observation("process:memoryRss", "system", resident_bytes(), "pass", now, "bytes"),
    ]
    if report.cycle_duration_ms is not None:
        found.insert(0, Observation("heartbeat:cycleDuration", "component", report.cycle_duration_ms, "pass",
                                    report.last_cycle or now, "ms"))
    return found


def resident_bytes() -> int:
    """Current resident memory (Linux /proc), else the peak the OS reports."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def register_health(mcp: MCPServer, engine: HeartbeatEngine, metrics: Metrics) -> None:
    async def guarded(description: str, *sources: Any) -> Response:
        """Run the checks; a database outage while reading becomes a failed check, not a 500."""
        found: list[Observation] = []
        for source in sources:
            try:
                found += await source()
            except (ConfigurationError, DBAPIError, OSError) as exc:
                why = describe_error(exc) if isinstance(exc, DBAPIError) else str(exc)
                found.append(Observation("database:read", "datastore", None, "fail", engine.clock.now(), output=why))
        return health_response(description, found)

    @mcp.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> Response:
        if not is_authenticated(request):
            alive = "pass" if engine.running else "fail"
            return Response(json.dumps({"status": alive}), status_code=200 if engine.running else 503, media_type=HEALTH_JSON)

        async def outside() -> list[Observation]:  # a third party's outage only warns here
            return [o if o.status != "fail" else Observation(o.key, o.component_type, o.value, "warn", o.time, o.unit, o.output)
                    for o in await external_api_checks(engine)]

        return await guarded("heartbeat-mcp overall health", lambda: heartbeat_checks(engine),
                             lambda: database_checks(engine), lambda: worker_checks(engine), outside)

    @mcp.custom_route("/health/heartbeat", methods=["GET"])
    async def heartbeat(request: Request) -> Response:
        return await guarded("heartbeat engine", lambda: heartbeat_checks(engine))

    @mcp.custom_route("/health/database", methods=["GET"])
    async def database(request: Request) -> Response:
        return await guarded("database connectivity", lambda: database_checks(engine))

    @mcp.custom_route("/health/external-apis", methods=["GET"])
    async def external_apis(request: Request) -> Response:
        return await guarded("external APIs, as last probed by the heartbeat", lambda: external_api_checks(engine))

    @mcp.custom_route("/health/background-workers", methods=["GET"])
    async def background_workers(request: Request) -> Response:
        return await guarded("the heartbeat's background loop and schedules", lambda: worker_checks(engine))

    @mcp.custom_route("/health/metrics", methods=["GET"])
    async def health_metrics(request: Request) -> Response:
        return await guarded("performance metrics", lambda: metric_checks(engine, metrics))

    @mcp.custom_route("/metrics", methods=["GET"])
    async def prometheus(request: Request) -> Response:
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE)
