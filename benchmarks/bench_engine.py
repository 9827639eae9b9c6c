"""Engine costs: overhead per task run, and CPU and memory of an idle server.

    .venv/bin/python benchmarks/bench_engine.py [--postgres URL] [--idle-seconds 60 (0: skip)]

Overhead per run: many tasks with empty handlers, run in cycles; the time
per task run is everything the engine does around a check (claim, lease,
worker thread, recording the run and its findings). Idle: `heartbeat-mcp
serve` on the demo portfolio with the default schedules, CPU time used over
a quiet minute (after a warm-up), and its resident memory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from heartbeat_mcp.database import Database  # noqa: E402
from heartbeat_mcp.engine import HeartbeatEngine  # noqa: E402
from heartbeat_mcp.migrate import upgrade  # noqa: E402
from heartbeat_mcp.schedule import Every  # noqa: E402
from heartbeat_mcp.settings import Settings  # noqa: E402
from heartbeat_mcp.task import CheckPack, CheckResult, TaskSpec  # noqa: E402
from scratch import scratch_postgres  # noqa: E402  (benchmarks/, the script's own folder)


def empty(ctx) -> CheckResult:
    return CheckResult()


async def per_run_overhead(url: str, tasks: int = 100, cycles: int = 10) -> tuple[float, float]:
    """Median and best milliseconds per task run over `cycles` cycles of `tasks` empty tasks."""
    database = Database(url)
    pack = CheckPack("bench", tuple(TaskSpec(f"empty_{i}", empty, Every(3600), "Bench") for i in range(tasks)))
    engine = HeartbeatEngine(database, Settings(database_url=url), packs=[pack], max_concurrency=4)
    per_run = []
    async with engine.standalone():
        await engine.execute_cycle()  # warm up: rows, pools, caches
        for _ in range(cycles):
            started = time.perf_counter()
            cycle = await engine.execute_cycle()
            assert len(cycle.runs) == tasks and not cycle.failed
            per_run.append((time.perf_counter() - started) * 1000 / tasks)
    database.dispose()
    return statistics.median(per_run), min(per_run)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def idle_server(seconds: float, warm_up: float = 45.0) -> tuple[float, float]:
    """CPU percent over `seconds` of an idle `heartbeat-mcp serve` on the demo portfolio, and its RSS in MB."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HEARTBEAT_DATABASE_URL": f"sqlite:///{tmp}/idle.db", "HEARTBEAT_LOG_LEVEL": "WARNING"}
        cli = [sys.executable, "-m", "heartbeat_mcp.cli"]
        subprocess.run([*cli, "seed", "--properties", "200", "--seed", "7"], env=env, check=True, capture_output=True)
        server = subprocess.Popen([*cli, "serve"], env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            # The first beats run every check once, spread by their jitter over up to 30 s.
            time.sleep(warm_up)
            before, t0 = cpu_seconds(server.pid), time.monotonic()
            time.sleep(seconds)
            used, elapsed = cpu_seconds(server.pid) - before, time.monotonic() - t0
            return 100 * used / elapsed, rss_mb(server.pid)
        finally:
            server.stdin.close()
            server.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("HEARTBEAT_TEST_POSTGRES_URL", ""))
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="0 measures the engine overhead only")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(Database(url), [])
        median, best = anyio.run(per_run_overhead, url)
        rows.append(("engine overhead per task run, SQLite", f"{median:.2f} ms (best {best:.2f} ms)"))
    if args.postgres:
        with scratch_postgres(args.postgres) as url:
            upgrade(Database(url), [])
            median, best = anyio.run(per_run_overhead, url)
            rows.append(("engine overhead per task run, PostgreSQL", f"{median:.2f} ms (best {best:.2f} ms)"))
    if args.idle_seconds > 0:
        cpu, rss = idle_server(args.idle_seconds)
        rows.append((f"idle CPU over {args.idle_seconds:.0f} s (serve, default schedules, 200 properties)",
                     f"{cpu:.2f} %"))
        rows.append(("RSS at idle (serve)", f"{rss:.0f} MB"))
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
