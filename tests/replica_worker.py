"""One heartbeat replica for the multi-process tests: the real engine with a small, fast pack.

Each run writes a notification in its own transaction, so a period that ran
twice would show up as two rows.
"""

from __future__ import annotations

import logging
import sys

import anyio
from sqlalchemy import text

from checks.schema import Notification
from heartbeat_mcp.database import Database
from heartbeat_mcp.engine import HeartbeatEngine
from heartbeat_mcp.schedule import Every
from heartbeat_mcp.settings import Settings
from heartbeat_mcp.task import CheckPack, CheckResult, TaskSpec


def leave_a_mark(ctx) -> CheckResult:
    if ctx.task == "slow":
        ctx.session.execute(text("SELECT pg_sleep(4)"))
    ctx.session.add(Notification(
        type="replica_test", priority="low", title=ctx.task, message=ctx.now.isoformat(), is_read=False,
        is_dismissed=False, created_at=ctx.now,
    ))
    return CheckResult()


PACK = CheckPack("replica_test", (
    TaskSpec("every_2s", leave_a_mark, Every(2), "Replica test"),
    TaskSpec("every_3s", leave_a_mark, Every(3), "Replica test"),
    TaskSpec("every_5s", leave_a_mark, Every(5), "Replica test"),
    TaskSpec("slow", leave_a_mark, Every(10), "Replica test", timeout_seconds=30),
))


async def main(url: str) -> None:
    database = Database(url)
    engine = HeartbeatEngine(
        database, Settings(database_url=url), packs=[PACK], lease_seconds=3, tick_seconds=0.5, max_concurrency=4,
    )
    async with engine:
        print(engine.replica_id, flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    anyio.run(main, sys.argv[1])
