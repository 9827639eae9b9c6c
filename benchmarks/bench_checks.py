"""Every check, and the whole cycle, timed on seeded portfolios of 10,000 and 100,000 properties.

    .venv/bin/python benchmarks/bench_checks.py [--postgres URL] [--sizes 10000 100000] [--out docs/benchmarks.md]
        [--json results.json] [--baseline earlier.json]

For each backend (SQLite always; PostgreSQL when a URL is given or
HEARTBEAT_TEST_POSTGRES_URL is set) and size: a fresh database, the seed,
VACUUM ANALYZE on PostgreSQL (SQLite plans without statistics, as its users'
files have none), then one warm-up cycle (first runs record their snapshots), the
whole cycle as the engine runs it (every task, four at a time) timed three
times, with the CPU time each cycle took (this process's, and the PostgreSQL
server's when it runs on this machine), and each check timed alone (best of
three runs; a single run when it takes over ten seconds). A check that fails
or times out in a cycle is named next to the cycle's time. Results go to a markdown table on stdout
and into --out, between its TABLE_BEGIN and TABLE_END markers: the text
around them (what the figures mean, earlier measurements) is kept. --json
keeps the raw figures, and --baseline puts an earlier run's figures next to
this one's ("before → after").
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import checks  # noqa: E402
from checks.seed import seed_portfolio  # noqa: E402
from heartbeat_mcp.database import Database  # noqa: E402
from heartbeat_mcp.engine import HeartbeatEngine  # noqa: E402
from heartbeat_mcp.migrate import upgrade  # noqa: E402
from heartbeat_mcp.plugins import load_packs  # noqa: E402
from heartbeat_mcp.settings import Settings  # noqa: E402
from heartbeat_mcp.task import CheckContext, HostInfo, TaskSpec  # noqa: E402
from scratch import scratch_postgres  # noqa: E402  (benchmarks/, the script's own folder)

SEED = 42
SLOW_MS = 10_000
HOST = HostInfo(transports=("benchmark",))
# A PostgreSQL URL naming one of these (or no host: a Unix socket) is a server on this machine.
LOCAL_HOSTS = (None, "", "localhost", "127.0.0.1", "::1")


def time_check(database: Database, settings: Settings, spec: TaskSpec, now: datetime) -> float:
    """Milliseconds for one run of a check, in the transaction the engine gives it; its writes are rolled back,
    so each run sees the same data."""
    ctx = CheckContext(spec.name, now, settings, database, HOST)
    if inspect.iscoroutinefunction(spec.handler):
        started = time.perf_counter()
        anyio.run(spec.handler, ctx)
        return (time.perf_counter() - started) * 1000
    with (database.readers if spec.read_only else database.sessions)() as session:
        ctx.session = session
        started = time.perf_counter()
        spec.handler(ctx)
        elapsed = time.perf_counter() - started
        session.rollback()
    return elapsed * 1000


def server_cpu_seconds() -> float | None:
    """CPU seconds the PostgreSQL server's processes on this machine have used, ended ones included; None when
    none can be seen (a server on another machine, or no /proc).

    Together with this process's CPU time it says how much work a cycle is,
    apart from how the host's cores share it: on two cores a cycle cannot
    take less than half the sum.
    """
    total, seen = 0, False
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            # utime, stime, and the same for the process's ended children (the postmaster's: ended backends).
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total, seen = total + sum(int(value) for value in fields[11:15]), True
    return total / os.sysconf("SC_CLK_TCK") if seen else None


Cycles = tuple[list[float], list[dict[str, Any]], set[str]]


async def time_cycles(engine: HeartbeatEngine, repeats: int, on_server: bool) -> Cycles:
    """The durations of `repeats` cycles after a warm-up, the CPU seconds each took (`process`; `server`, for a
    database server on this machine), and the checks that failed or timed out in any."""
    async with engine.standalone():
        await engine.execute_cycle()  # warm-up: snapshots, first observations, rows of the engine
        durations, cpu, failed = [], [], set()
        for _ in range(repeats):
            process, server = time.process_time(), server_cpu_seconds() if on_server else None
            cycle = await engine.execute_cycle()
            server_after = server_cpu_seconds() if on_server else None
            cpu.append({"process": time.process_time() - process,
                        "server": None if server is None or server_after is None else server_after - server})
            failed.update(cycle.failed)
            durations.append(cycle.duration_ms)
        return durations, cpu, failed


def bench(url: str, size: int) -> dict[str, Any]:
    database = Database(url)
    upgrade(database, load_packs())
    now = datetime.now(timezone.utc)
    seeded = seed_portfolio(database, properties=size, seed=SEED, now=now)
    if database.dialect == "postgresql":
        # As autovacuum would have by then: statistics, and the visibility map index-only scans rely on.
        # SQLite is left as its users have it: nothing there gathers statistics on its own.
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    settings = Settings(database_url=url)
    engine = HeartbeatEngine(database, settings, host=HOST)
    on_server = database.dialect == "postgresql" and database.url.host in LOCAL_HOSTS
    cycles, cpu, failed = anyio.run(time_cycles, engine, 3, on_server)
    per_check = {spec.name: best_time(database, settings, spec, now) for spec in checks.pack.tasks}
    database.dispose()
    return {"seed_seconds": seeded.seconds, "rows": sum(seeded.rows.values()), "cycle_ms": cycles,
            "cycle_cpu": cpu, "failed": failed, "checks": per_check}


def best_time(database: Database, settings: Settings, spec: TaskSpec, now: datetime) -> float:
    """Best of three runs; one run is enough once a check takes longer than SLOW_MS."""
    times = [time_check(database, settings, spec, now)]
    while len(times) < 3 and times[0] < SLOW_MS:
        times.append(time_check(database, settings, spec, now))
    return min(times)


Results = dict[tuple[str, int], dict[str, Any]]


def render(results: Results, sizes: list[int], baseline: Results | None = None) -> str:
    """The markdown table; with a baseline, each cell reads "before → after"."""
    columns = [(backend, size) for backend in ("PostgreSQL", "SQLite") for size in sizes if (backend, size) in results]
    head = " | ".join(f"{b} {s:,}" for b, s in columns)
    lines = [
        f"Measured by `benchmarks/bench_checks.py` on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {datetime.now(timezone.utc):%Y-%m-%d}. Seeded portfolios (seed {SEED});",
        "each check timed alone (best of three, in a rolled-back transaction; one run past 10 s); "
        "the cycle is every task",
        "as the engine runs it, four at a time (median of three, after a warm-up cycle). "
        "Milliseconds; the CPU rows are",
        "the seconds of CPU a cycle took (median of three).",
    ]
    if baseline:
        lines += ["", "Each cell is before → after: the baseline run given with `--baseline`, then this one."]
    lines += ["", f"| check | {head} |", "|---|" + "---:|" * len(columns)]

    def row(label: str, value: Any) -> str:
        cells = []
        for column in columns:
            after = value(results[column])
            before = value(baseline[column]) if baseline and column in baseline else None
            cells.append(after if before is None else f"{before} → {after}")
        return f"| {label} | " + " | ".join(cells) + " |"

    for spec in checks.pack.tasks:
        lines.append(row(spec.name,
                         lambda r, name=spec.name: f"{r['checks'][name]:.0f}" if name in r["checks"] else "–"))
    lines.append(row("**whole cycle**", lambda r: f"**{_cycle(r)}**"))
    # The engine, the checks' Python and, on SQLite, the database itself; then the PostgreSQL server.
    lines.append(row("CPU per cycle, benchmark process (s)", lambda r: _cycle_cpu(r, "process")))
    lines.append(row("CPU per cycle, PostgreSQL server (s)", lambda r: _cycle_cpu(r, "server")))
    lines.append(row("seeding (s)", lambda r: f"{r['seed_seconds']:.1f}"))
    lines.append(row("rows seeded", lambda r: f"{r['rows']:,}"))
    return "\n".join(lines) + "\n"


def _cycle(result: dict[str, Any]) -> str:
    """The median cycle, marked when some check failed in it (the engine stops a check after its timeout)."""
    median = f"{sorted(result['cycle_ms'])[1]:.0f}"
    return median + (f" ({', '.join(sorted(result['failed']))} failed)" if result["failed"] else "")


def _cycle_cpu(result: dict[str, Any], part: str) -> str:
    """The median of the cycles' CPU seconds in `part`; "–" where it was not measured."""
    seconds = sorted(cpu[part] for cpu in result.get("cycle_cpu", []) if cpu[part] is not None)
    return f"{seconds[len(seconds) // 2]:.1f}" if seconds else "–"


# Where --out holds the table: replaced between these, every other line of the file kept.
TABLE_BEGIN = "<!-- bench_checks.py table: replaced by each run -->"
TABLE_END = "<!-- end of the bench_checks.py table -->"


def around_table(path: Path) -> tuple[str, str]:
    """The text of `path` before and after its table (a file without the markers: all of it before, none after).

    Read before measuring too, so a file whose markers are broken stops
    the run at once rather than after the measurements.
    """
    text = path.read_text() if path.exists() else ""
    before, found, rest = text.partition(TABLE_BEGIN + "\n")
    _, ended, after = rest.partition(TABLE_END + "\n")
    if found and not ended:
        raise SystemExit(f"{path}: the line {TABLE_BEGIN!r} has no {TABLE_END!r} after it; add it where the table "
                         "ends, or the rest of the file would be replaced")
    return (before + "\n" if before and not found else before), after


def write_table(path: Path, table: str) -> None:
    """Put `table` between the markers of `path`; a file without them gets them at its end, a new file only them."""
    before, after = around_table(path)
    path.write_text(f"{before}{TABLE_BEGIN}\n{table}{TABLE_END}\n{after}")


def save(results: Results, path: Path) -> None:
    path.write_text(json.dumps({f"{backend} {size}": {**result, "failed": sorted(result["failed"])}
                                for (backend, size), result in results.items()}, indent=1) + "\n")


def load(path: Path) -> Results:
    found: Results = {}
    for key, result in json.loads(path.read_text()).items():
        backend, size = key.rsplit(" ", 1)
        found[(backend, int(size))] = {**result, "failed": set(result["failed"])}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("HEARTBEAT_TEST_POSTGRES_URL", ""))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, help="also write the raw results here, for a later --baseline")
    parser.add_argument("--baseline", type=Path, help="results (--json) of an earlier run, shown as before → after")
    args = parser.parse_args()
    around_table(args.out)

    results: dict[tuple[str, int], dict[str, Any]] = {}
    for size in args.sizes:
        if args.postgres:
            with scratch_postgres(args.postgres) as url:
                results[("PostgreSQL", size)] = bench(url, size)
            print(f"PostgreSQL {size:,}: cycle {_cycle(results[('PostgreSQL', size)])} ms", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            results[("SQLite", size)] = bench(f"sqlite:///{tmp}/bench.db", size)
        print(f"SQLite {size:,}: cycle {_cycle(results[('SQLite', size)])} ms", file=sys.stderr)
    if args.json:
        save(results, args.json)
    table = render(results, args.sizes, load(args.baseline) if args.baseline else None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_table(args.out, table)
    print(table)


if __name__ == "__main__":
    main()
