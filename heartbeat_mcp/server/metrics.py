"""Prometheus metrics, as hand-written text exposition (format 0.0.4).

Cycle durations and run counts are what this process saw (a listener on the
engine), as Prometheus expects from counters and histograms: each replica
counts its own, and they reset on restart. Open action items and the last
success per task come from the shared database, so every replica reports the
same gauges. While the database cannot be reached those gauges are left
out and `heartbeat_database_up` is 0: a scrape must still answer then.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError

from heartbeat_mcp import store
from heartbeat_mcp.engine import ConfigurationError, CycleOutcome, HeartbeatEngine

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CYCLE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, math.inf)


class Metrics:
    def __init__(self, engine: HeartbeatEngine) -> None:
        self.engine = engine
        self._buckets = [0] * len(CYCLE_BUCKETS)
        self._cycle_seconds = 0.0
        self._cycles = 0
        self._runs: Counter[tuple[str, str]] = Counter()
        self.last_cycle_seconds: float | None = None

    @property
    def cycles(self) -> int:
        return self._cycles

    async def observe(self, cycle: CycleOutcome) -> None:
        """The engine's cycle listener."""
        seconds = cycle.duration_ms / 1000
        self._buckets[bisect_left(CYCLE_BUCKETS, seconds)] += 1
        self._cycle_seconds += seconds
        self._cycles += 1
        self.last_cycle_seconds = seconds
        for run in cycle.runs.values():
            self._runs[(run.task, run.status.value)] += 1

    async def exposition(self) -> str:
        engine = self.engine
        try:
            counts = (await engine.report()).action_item_counts
            rows = await engine.database.run(self._last_successes)
        except (ConfigurationError, DBAPIError):
            counts, rows = {}, []
        out: list[str] = []
        _family(out, "heartbeat_up", "gauge", "1 while this process's heartbeat engine is running.",
                [({}, 1 if engine.running else 0)])
        _family(out, "heartbeat_database_up", "gauge", "1 while the engine can reach its database.",
                [({}, 0 if engine.database_ok is False else 1)])
        cumulative, samples = 0, []
        for bound, count in zip(CYCLE_BUCKETS, self._buckets):
            cumulative += count
            samples.append(({"le": "+Inf" if math.isinf(bound) else _number(bound)}, cumulative))
        _family(out, "heartbeat_cycle_duration_seconds", "histogram", "How long heartbeat cycles took in this process.",
                samples, suffix="_bucket")
        out.append(f"heartbeat_cycle_duration_seconds_sum {_number(self._cycle_seconds)}")
        out.append(f"heartbeat_cycle_duration_seconds_count {self._cycles}")
        _family(out, "heartbeat_task_runs_total", "counter", "Task runs finished in this process, by outcome.",
                [({"task": task, "status": status}, n) for (task, status), n in sorted(self._runs.items())])
        _family(out, "heartbeat_open_action_items", "gauge", "Open action items, by priority.",
                [({"priority": p}, n) for p, n in counts.items()])
        _family(out, "heartbeat_task_last_success_timestamp_seconds", "gauge",
                "Unix time of each task's last successful run.",
                [({"task": name}, when.timestamp()) for name, when in rows if when is not None])
        return "\n".join(out) + "\n"

    def _last_successes(self) -> list[tuple[str, datetime | None]]:
        with self.engine.database.sessions() as session:
            return [(r.task_name, r.last_success_at) for r in store.task_rows(session)]


def _family(out: list[str], name: str, kind: str, help_: str, samples: list[tuple[dict[str, str], Any]],
            suffix: str = "") -> None:
    out.append(f"# HELP {name} {help_}")
    out.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        shown = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        out.append(f"{name}{suffix}{{{shown}}} {_number(value)}" if shown else f"{name}{suffix} {_number(value)}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
