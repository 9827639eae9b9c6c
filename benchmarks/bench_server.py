"""What the MCP layer costs, beside a bare `MCPServer` with no tools started the same way (over stdio).

    .venv/bin/python benchmarks/bench_server.py --postgres postgresql://postgres@127.0.0.1:5432/postgres

(a) get_heartbeat_status latency, p50 and p99 over --calls calls made while full cycles run (triggered one
    after another) on a PostgreSQL portfolio seeded by `heartbeat-mcp seed --properties 20000`, and as many
    with no cycle running. The bare server has no tool to call, so its figure is tools/list: the protocol's
    own round trip.
(b) Time from process start to the first tools/list answer, median of --starts starts.
(c) Resident memory at idle: once started, and for heartbeat-mcp also after the cycles of (a).

heartbeat-mcp is paused first (the pause persists), so no scheduled check runs during any of this; the
cycles of (a) are triggered, and triggered cycles run while paused.

The database is created on the server the URL names and dropped at the end. The realtor checks that are
installed are the ones that run; the table's notes name how many there were.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from heartbeat_mcp.plugins import load_packs
from scratch import scratch_postgres  # benchmarks/, the script's own folder

REPO = Path(__file__).resolve().parent.parent
BARE_SERVER = "from mcp.server import MCPServer; MCPServer('bare').run()"
HEARTBEAT_SERVER = ["-m", "heartbeat_mcp.cli", "serve"]


@dataclass
class Figures:
    idle_latencies_ms: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    starts_s: list[float] = field(default_factory=list)
    rss_idle_mib: float = 0.0
    rss_after_cycles_mib: float | None = None
    cycles: list[tuple[int, float]] = field(default_factory=list)  # (checks run, seconds)


def children_rss_mib() -> float:
    """Resident memory of this process's children (the one server the client started)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip()) == os.getpid():
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total / 1024


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def measure(params: StdioServerParameters, *, heartbeat: bool, calls: int, starts: int) -> Figures:
    figures = Figures()
    if heartbeat:
        # Paused (it persists), nothing runs on its own: idle means idle, and the only cycles are the
        # ones (a) triggers, which run whether paused or not.
        async with Client(params) as client:
            paused = await client.call_tool("pause_heartbeat", {})
            assert not paused.is_error, paused.content
    for _ in range(starts):
        started = time.perf_counter()
        async with Client(params) as client:
            await client.list_tools()
            figures.starts_s.append(time.perf_counter() - started)
            await anyio.sleep(1)
            figures.rss_idle_mib = children_rss_mib()

    async with Client(params) as client:
        await client.list_tools()
        if not heartbeat:
            for _ in range(calls):
                figures.latencies_ms.append(await timed(client.list_tools))
            figures.idle_latencies_ms = figures.latencies_ms
            return figures
        for _ in range(calls):
            figures.idle_latencies_ms.append(await timed(lambda: client.call_tool("get_heartbeat_status", {})))
        cycling = anyio.Event()

        async def cycles() -> None:
            while len(figures.latencies_ms) < calls:
                started = time.perf_counter()
                cycling.set()
                ran = await client.call_tool("trigger_heartbeat_cycle", {}, read_timeout_seconds=600)
                if ran.is_error:
                    raise RuntimeError(ran.content[0].text)
                figures.cycles.append((ran.structured_content["tasks_run"], time.perf_counter() - started))

        async with anyio.create_task_group() as group:
            group.start_soon(cycles)
            await cycling.wait()
            await anyio.sleep(0.2)  # the cycle's checks are under way
            while len(figures.latencies_ms) < calls:
                figures.latencies_ms.append(await timed(lambda: client.call_tool("get_heartbeat_status", {})))
        await anyio.sleep(2)
        figures.rss_after_cycles_mib = children_rss_mib()
    return figures


def table(ours: Figures, bare: Figures, installed: int) -> str:
    def ms(values: list[float], p: int) -> str:
        return f"{percentile(values, p):.1f} ms"

    checks = sorted({n for n, _ in ours.cycles})
    seconds = statistics.median(s for _, s in ours.cycles)
    rows = [
        ("(a) status latency p50, during full cycles", ms(ours.latencies_ms, 50),
         ms(bare.latencies_ms, 50) + " (tools/list)"),
        ("(a) status latency p99, during full cycles", ms(ours.latencies_ms, 99),
         ms(bare.latencies_ms, 99) + " (tools/list)"),
        ("(a) status latency p50 / p99, no cycle running",
         f"{ms(ours.idle_latencies_ms, 50)} / {ms(ours.idle_latencies_ms, 99)}", "-"),
        ("(b) process start to first tools/list answer (median)", f"{statistics.median(ours.starts_s):.2f} s",
         f"{statistics.median(bare.starts_s):.2f} s"),
        ("(c) RSS at idle, once started", f"{ours.rss_idle_mib:.0f} MiB", f"{bare.rss_idle_mib:.0f} MiB"),
        ("(c) RSS at idle, after the cycles of (a)", f"{ours.rss_after_cycles_mib:.0f} MiB", "-"),
    ]
    lines = ["| measure | heartbeat-mcp | bare MCPServer |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    cycles = f"{len(ours.cycles)} full cycle{'' if len(ours.cycles) == 1 else 's'}"
    lines += ["", f"{len(ours.latencies_ms)} status calls during {cycles} of "
              f"{'/'.join(map(str, checks))} checks ({installed} installed), median cycle {seconds:.2f} s "
              "as the trigger saw it; both servers over stdio, started as `python -m ...`."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("HEARTBEAT_TEST_POSTGRES_URL", ""),
                        help="a PostgreSQL server URL (its database part is ignored)")
    parser.add_argument("--properties", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    if not args.postgres:
        parser.error("--postgres URL is required (or set HEARTBEAT_TEST_POSTGRES_URL)")

    with scratch_postgres(args.postgres) as url:
        env = {"HEARTBEAT_DATABASE_URL": url, "HEARTBEAT_LOG_LEVEL": "WARNING",
               **{k: os.environ[k] for k in ("HEARTBEAT_CHECKLIST", "HEARTBEAT_TIMEZONE") if k in os.environ}}
        for command in (["db", "upgrade"], ["seed", "--properties", str(args.properties)]):
            done = subprocess.run([sys.executable, "-m", "heartbeat_mcp.cli", *command], env={**os.environ, **env},
                                  cwd=REPO, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"heartbeat-mcp {' '.join(command)} failed: {done.stderr.strip()}")
            print((done.stdout or done.stderr).strip(), file=sys.stderr)
        installed = sum(len(p.tasks) for p in load_packs())
        ours = anyio.run(lambda: measure(StdioServerParameters(command=sys.executable, args=HEARTBEAT_SERVER, env=env,
                                                               cwd=str(REPO)),
                                         heartbeat=True, calls=args.calls, starts=args.starts))
        bare = anyio.run(lambda: measure(StdioServerParameters(command=sys.executable, args=["-c", BARE_SERVER],
                                                               cwd=str(REPO)),
                                         heartbeat=False, calls=args.calls, starts=args.starts))
        print(table(ours, bare, installed))


if __name__ == "__main__":
    main()
