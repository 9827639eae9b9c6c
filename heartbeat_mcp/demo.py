"""`heartbeat-mcp demo`: one heartbeat cycle over an embedded demo portfolio.

The demo database is built once (seeded into a temporary file that is moved
into place only when complete) and reused afterwards, so a second run starts
at once and an interrupted first run leaves nothing half-built.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import anyio

from heartbeat_mcp.briefing import render_briefing
from heartbeat_mcp.database import Database
from heartbeat_mcp.engine import HeartbeatEngine
from heartbeat_mcp.migrate import ensure_schema, upgrade
from heartbeat_mcp.plugins import load_packs
from heartbeat_mcp.settings import Settings
from heartbeat_mcp.task import Seeder

DEMO_SEED = 7


def build_demo_database(path: Path, seeder: Seeder, properties: int) -> None:
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, *partial.parent.glob(partial.name + "-*")):
        leftover.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    database = Database(f"sqlite:///{partial}")
    try:
        upgrade(database, load_packs())
        summary = seeder(database, properties=properties, seed=DEMO_SEED, now=datetime.now(timezone.utc))
    finally:
        database.dispose()
    partial.replace(path)
    print(f"Built the demo portfolio: {summary.rows.get('properties', 0):,} properties, "
          f"{sum(summary.rows.values()):,} rows in {summary.seconds:.1f} s → {path}", file=sys.stderr)


def run_demo(settings: Settings, seeder: Seeder, *, properties: int, fresh: bool) -> int:
    database = Database(settings.database_url)
    path = Path(database.sqlite_path or "")
    if not database.sqlite_path:
        print("The demo runs on an embedded SQLite file; unset HEARTBEAT_DATABASE_URL or pass --database-url sqlite:///...",
              file=sys.stderr)
        return 2
    database.dispose()
    if fresh or not path.exists():
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        build_demo_database(path, seeder, properties)
    else:
        print(f"Reusing the demo portfolio at {path} (--fresh rebuilds it)", file=sys.stderr)
    database = Database(settings.database_url)
    ensure_schema(database, load_packs())  # a demo file from an older version is upgraded in place
    engine = HeartbeatEngine(database, settings)

    async def cycle():
        async with engine.standalone():
            outcome = await engine.execute_cycle()
            return outcome, await engine.report(item_limit=200)

    outcome, report = anyio.run(cycle)
    print(render_briefing(report, settings.timezone, per_priority=5), end="")
    failed = outcome.failed
    print(f"\nRan {len(outcome.runs)} checks in {outcome.duration_ms / 1000:.1f} s"
          + (f"; failed: {', '.join(failed)}" if failed else "; none failed") + ".")
    return 1 if failed else 0
