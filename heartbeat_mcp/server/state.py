"""The engine's state, read once and shaped for every way the server shows it.

Tools, resources, prompts and the health routes all describe the same
status, report and tasks; building each view here keeps them from drifting
apart (the status resource is exactly what `get_heartbeat_status` returns).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from heartbeat_mcp import store
from heartbeat_mcp.engine import HeartbeatEngine
from heartbeat_mcp.registry import Target, TargetError, spoken_task
from heartbeat_mcp.report import Report, TaskState, plural
from heartbeat_mcp.schedule import Every
from heartbeat_mcp.server.speech import about, ago, clock_time, counted_items, from_now, items_sentence, say, task_names
from heartbeat_mcp.task import Priority

RECENT_RUNS = 20


class TargetView(BaseModel):
    """What a spoken task phrase was understood as."""

    kind: Literal["engine", "group", "task"]
    name: str = Field(description="The group or task name; empty for the whole heartbeat.")
    tasks: list[str]

    @classmethod
    def of(cls, target: Target) -> TargetView:
        return cls(kind=target.kind, name=target.name, tasks=list(target.tasks))  # type: ignore[arg-type]


class StatusView(BaseModel):
    speech: str = Field(description="What to say to the agent: at most two short sentences.")
    state: str = Field(description="running, paused, disabled (by settings) or stopped.")
    paused_until: datetime | None
    database: Literal["ok", "down"]
    database_error: str | None
    base_interval: str = Field(description="How often checks on the base cycle run, e.g. 'every 5 minutes'.")
    base_interval_seconds: int
    tasks_enabled: int
    tasks_total: int
    tasks_paused: list[str]
    tasks_failing: list[str]
    running_tasks: list[str]
    next_task: str | None
    next_run_at: datetime | None
    last_cycle: datetime | None
    open_action_items: dict[str, int] = Field(description="Open action items by priority.")
    replicas: int = Field(description="Heartbeat servers sharing this database.")
    uptime_seconds: float
    checklist_error: str | None = Field(description="Why an edited HEARTBEAT.md was not applied, if it was not.")


async def read_status(engine: HeartbeatEngine) -> StatusView:
    status = await engine.get_status()
    now, zone = engine.clock.now(), engine.settings.timezone
    if status.state == "stopped":
        speech = say("The heartbeat engine is stopped, so nothing is being checked right now.")
    elif status.database == "down":
        speech = say("The heartbeat can't reach its database, so nothing is being checked right now.",
                     "It keeps retrying by itself.")
    else:
        if status.state == "disabled":
            lead = "The heartbeat is switched off in its settings, so no checks run"
        elif status.state == "paused":
            until = clock_time(status.paused_until, now, zone) if status.paused_until else "you resume it"
            lead = f"The heartbeat is paused until {until}"
        elif status.last_cycle is None:
            due = from_now(status.next_run_at, now) if status.next_run_at else "shortly"
            lead = f"The heartbeat is running; its first checks are due {due}"
        else:
            lead = (f"The heartbeat is running with {status.tasks_enabled} of {plural(status.tasks_total, 'check')} on, "
                    f"last one {ago(status.last_cycle, now)}")
        if status.tasks_failing and status.state != "disabled":
            failing = status.tasks_failing
            lead += f"; {task_names(failing)} {'is' if len(failing) == 1 else 'are'} failing"
        speech = say(lead, counted_items(status.open_items, status.top_item or ""))
    return StatusView(
        speech=speech,
        state=status.state,
        paused_until=status.paused_until,
        database="down" if status.database == "down" else "ok",
        database_error=status.database_error,
        base_interval=Every(status.base_interval_seconds).describe(),
        base_interval_seconds=status.base_interval_seconds,
        tasks_enabled=status.tasks_enabled,
        tasks_total=status.tasks_total,
        tasks_paused=status.tasks_paused,
        tasks_failing=status.tasks_failing,
        running_tasks=status.running_tasks,
        next_task=status.next_task,
        next_run_at=status.next_run_at,
        last_cycle=status.last_cycle,
        open_action_items=status.open_items,
        replicas=status.replicas,
        uptime_seconds=status.uptime_seconds,
        checklist_error=status.checklist_error,
    )


def cycle_sentence(report: Report, now: datetime) -> str:
    """When the last cycle ran, how many checks, how long, and what failed."""
    if report.last_cycle is None:
        return "No heartbeat cycle has finished yet."
    took = about((report.cycle_duration_ms or 0) / 1000)
    sentence = f"The last cycle, {ago(report.last_cycle, now)}, ran {plural(report.tasks_executed, 'check')} in {took}"
    failed = [t.name for t in report.tasks if t.name in report.last_cycle_tasks and t.last_status in ("failed", "timed_out")]
    if failed:
        return f"{sentence}; {task_names(failed)} failed."
    return f"{sentence}, all without errors."


QUALIFIERS = {Priority.urgent: "urgent", Priority.high: "high-priority", Priority.medium: "medium-or-higher", Priority.low: ""}


def report_speech(report: Report, now: datetime, *, scope: Target | None = None, min_priority: Priority | None = None) -> str:
    """Answers "what did the last cycle find?" and "any action items?": count and top item first."""
    lead = items_sentence(report, qualifier=QUALIFIERS[min_priority] if min_priority else "")
    if scope is not None and scope.kind != "engine":
        lead = f"{scope.spoken[:1].upper()}{scope.spoken[1:]}: {lead[:1].lower()}{lead[1:]}"
    return say(lead, cycle_sentence(report, now))


async def resolve(engine: HeartbeatEngine, phrase: str | None) -> Target:
    """Turn a spoken task or group phrase into a Target; the one place every tool does this."""
    return await engine.database.run(engine.resolve, phrase)


class TaskView(BaseModel):
    name: str
    spoken_name: str
    group: str
    description: str
    enabled: bool
    paused: bool
    schedule: str
    last_run_at: datetime | None
    last_status: str | None
    last_error: str | None
    next_run_at: datetime | None
    consecutive_failures: int
    open_items: int

    @classmethod
    def of(cls, state: TaskState, description: str) -> TaskView:
        return cls(
            name=state.name, spoken_name=spoken_task(state.name), group=state.group, description=description,
            enabled=state.enabled, paused=state.paused, schedule=state.schedule, last_run_at=state.last_run_at,
            last_status=state.last_status, last_error=state.last_error, next_run_at=state.next_run_at,
            consecutive_failures=state.consecutive_failures, open_items=state.open_items,
        )


class RunView(BaseModel):
    started_at: datetime
    finished_at: datetime
    duration_ms: float
    status: str
    trigger: str
    item_count: int | None
    error: str | None


class TaskDetail(TaskView):
    priority: Priority
    timeout_seconds: float
    runs_after: list[str]
    recent_runs: list[RunView]


async def read_tasks(engine: HeartbeatEngine) -> list[TaskView]:
    report = await engine.report()
    descriptions = engine.descriptions()
    return [TaskView.of(t, descriptions.get(t.name, "")) for t in report.tasks if t.name in engine.registry]


async def read_task(engine: HeartbeatEngine, name: str) -> TaskDetail:
    """One task's configuration and its recent runs; TargetError when the name is not a task."""
    target = await resolve(engine, name)
    if target.kind != "task":
        raise TargetError(f"'{name}' is {target.spoken}, not a single task.", target.tasks[:4])
    views = {v.name: v for v in await read_tasks(engine)}
    spec = engine.registry[target.name]

    def history() -> tuple[float, list[RunView]]:
        with engine.database.sessions() as session:
            rows = store.task_rows(session, [target.name])
            runs = store.recent_runs(session, target.name, RECENT_RUNS)
            return rows[0].timeout_seconds if rows else spec.timeout_seconds, [
                RunView(started_at=r.started_at, finished_at=r.finished_at, duration_ms=r.duration_ms, status=r.status,
                        trigger=r.trigger, item_count=(r.result or {}).get("item_count"), error=r.error)
                for r in runs
            ]

    timeout, runs = await engine.database.run(history)
    base = views.get(target.name)
    if base is None:  # registered after the last report was built: nothing has run yet
        raise TargetError(f"The {spoken_task(target.name)} check has not been set up yet; try again in a few seconds.")
    return TaskDetail(**base.model_dump(), priority=spec.priority, timeout_seconds=timeout,
                      runs_after=list(spec.after), recent_runs=runs)
