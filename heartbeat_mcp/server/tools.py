"""The six voice tools: status, trigger, pause, resume, configure, report.

Each tool takes the loose phrases a driver says ("market intelligence",
"every ten minutes", "until tomorrow morning"), hands them to the engine's
forgiving parsers, and answers with a structured result whose first field,
`speech`, is what the assistant should say. A phrase the engine cannot use
comes back as a spoken error and changes nothing: every parser runs before
the engine writes, and the engine applies each change in one transaction.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import BaseModel, BeforeValidator, Field

from heartbeat_mcp.engine import HeartbeatEngine, RunOutcome
from heartbeat_mcp.registry import spoken_task
from heartbeat_mcp.report import Report, plural
from heartbeat_mcp.schedule import Every, parse_duration, parse_until
from heartbeat_mcp.server.resources import CONFIG_CHANGES
from heartbeat_mcp.server.speech import (
    about, clock_time, from_now, items_sentence, say, spoken_errors, subject, task_names,
)
from heartbeat_mcp.server.state import StatusView, TargetView, read_status, report_speech, resolve
from heartbeat_mcp.server.subscriptions import ResourceNotifier
from heartbeat_mcp.task import Priority, RunStatus

SPEAK_IT = " Say the `speech` field to the user; the other fields are details for follow-up questions."

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
SETTING = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
RUNNING = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)


def _as_text(value: Any) -> Any:
    """Accept 600 as well as "600": assistants send numbers for intervals."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


_PRIORITY_WORDS = {"critical": "urgent", "important": "high", "normal": "medium", "minor": "low", "all": "low", "any": "low"}


def _priority(value: Any) -> Any:
    """'High', 'critical', 'any': the words people use for a priority floor."""
    if not isinstance(value, str):
        return value
    word = value.strip().lower()
    return _PRIORITY_WORDS.get(word, word)


TaskPhrase = Annotated[str | None, Field(
    max_length=200,
    description="A task name, a group name, or words from a checklist line, as said: 'stale property monitoring', "
                "'market intelligence', 'contract deadlines'. Leave it out to mean the whole heartbeat.",
)]
GroupPhrase = Annotated[str | None, Field(
    max_length=200, description="A group of checks, e.g. 'portfolio monitoring' or 'market intelligence'.",
)]
DurationPhrase = Annotated[str | None, Field(
    max_length=100,
    description="How long, as said: 'two hours', 'for 30 minutes', 'until tomorrow morning', 'until 5pm'. "
                "Leave it out to pause until resumed.",
)]
IntervalPhrase = Annotated[str | None, BeforeValidator(_as_text), Field(
    max_length=100,
    description="How often to run, as said: '10 minutes', 'every hour', '1h30m', 'every ten minutes', or seconds "
                "('600'). Between 10 seconds and 7 days.",
)]
PriorityChoice = Annotated[Priority | None, BeforeValidator(_priority), Field(
    description="Only items at this priority or above: low, medium, high or urgent.",
)]

_UNTIL_RESUMED = re.compile(
    r"(indefinitely|forever|until (resumed|further notice|(i|you) (say so|resume( it)?|turn it back on)))[.!]?"
)


class RunSummary(BaseModel):
    task: str
    status: RunStatus
    duration_ms: float
    items: int
    error: str | None = None


class CycleView(BaseModel):
    speech: str = Field(description="What to say to the user: at most two short sentences.")
    cycle_id: str
    duration_seconds: float
    tasks_run: int
    tasks_failed: list[str]
    skipped: dict[str, str] = Field(description="Tasks that did not run here, and why (e.g. running on another replica).")
    runs: list[RunSummary]
    report: Report


class PauseView(BaseModel):
    speech: str = Field(description="What to say to the user.")
    target: TargetView
    paused_until: datetime | None = Field(description="When it resumes by itself; empty means when told to.")


class ResumeView(BaseModel):
    speech: str = Field(description="What to say to the user.")
    target: TargetView
    state: str = Field(description="The heartbeat's state afterwards: running, paused, disabled or stopped.")


class ConfigureView(BaseModel):
    speech: str = Field(description="What to say to the user.")
    target: TargetView
    enabled: bool | None
    schedule: str | None = Field(description="The new schedule, e.g. 'every 10 minutes', when it was changed.")
    interval_seconds: int | None


class ReportView(BaseModel):
    speech: str = Field(description="What to say to the user: the count and the top item first.")
    scope: TargetView | None = Field(description="The group or task the report was limited to, if any.")
    min_priority: Priority | None
    report: Report


def register_tools(mcp: MCPServer, engine: HeartbeatEngine, notifier: ResourceNotifier) -> None:
    """Declare the tools on `mcp`; they close over the one engine of this process."""

    @mcp.tool(
        title="Heartbeat status",
        description="Whether the heartbeat (the background monitoring of the agent's portfolio) is running, paused "
                    "or failing, when it last checked, and how many items need attention. Answers \"What's the "
                    "heartbeat status?\" and \"Is the autonomous agent running?\"." + SPEAK_IT,
        annotations=READ_ONLY,
    )
    @spoken_errors
    async def get_heartbeat_status() -> StatusView:
        return await read_status(engine)

    @mcp.tool(
        title="Run heartbeat checks now",
        description="Run every enabled check now, or only the named task or group, and report what was found; "
                    "sends a progress notification as each check finishes. If a cycle is already running, waits "
                    "for it instead of starting another. Answers \"Trigger a heartbeat cycle now\" and \"Check "
                    "contract deadlines now\"." + SPEAK_IT,
        annotations=RUNNING,
    )
    @spoken_errors
    async def trigger_heartbeat_cycle(ctx: Context, task: TaskPhrase = None) -> CycleView:
        target = await resolve(engine, task)

        async def progress(outcome: RunOutcome, done: int, total: int) -> None:
            await ctx.report_progress(done, total, f"{spoken_task(outcome.task)}: {_outcome_words(outcome)}")

        cycle = await engine.execute_cycle(task, progress=progress)
        report = await engine.report(tasks=None if target.kind == "engine" else list(target.tasks))
        failed = cycle.failed
        if not cycle.runs:
            name, many = subject(target)
            first = f"Nothing ran: {name} {'are' if many else 'is'} switched off or already running elsewhere"
        else:
            first = f"Ran {plural(len(cycle.runs), 'check')} in {about(cycle.duration_ms / 1000)}"
            first += f"; {task_names(failed)} failed" if failed else ", all without errors"
            if cycle.skipped:
                first += f", and {len(cycle.skipped)} {'was' if len(cycle.skipped) == 1 else 'were'} already running elsewhere"
        return CycleView(
            speech=say(first, items_sentence(report)),
            cycle_id=cycle.cycle_id,
            duration_seconds=round(cycle.duration_ms / 1000, 3),
            tasks_run=len(cycle.runs),
            tasks_failed=failed,
            skipped=cycle.skipped,
            runs=[RunSummary(task=r.task, status=r.status, duration_ms=r.duration_ms, items=len(r.items), error=r.error)
                  for r in cycle.runs.values()],
            report=report,
        )

    @mcp.tool(
        title="Pause the heartbeat",
        description="Pause the whole heartbeat, a group or a single task, for a while or until resumed; the pause "
                    "survives restarts. Answers \"Pause the heartbeat system\", \"Pause market intelligence for two "
                    "hours\" and \"Pause stale property checks until tomorrow morning\"." + SPEAK_IT,
        annotations=SETTING,
    )
    @spoken_errors
    async def pause_heartbeat(task: TaskPhrase = None, duration: DurationPhrase = None) -> PauseView:
        now, zone = engine.clock.now(), engine.settings.timezone
        until = None
        if duration and not _UNTIL_RESUMED.fullmatch(duration.strip().lower()):
            until = parse_until(duration, now, zone)
        target = await engine.pause(task, until)
        await notifier.changed(CONFIG_CHANGES)
        name, many = subject(target)
        when = clock_time(until, now, zone) if until else f"you resume {'them' if many else 'it'}"
        return PauseView(speech=say(f"{name} {'are' if many else 'is'} paused until {when}"),
                         target=TargetView.of(target), paused_until=until)

    @mcp.tool(
        title="Resume the heartbeat",
        description="Resume the whole heartbeat, a group or a single task after a pause. Answers \"Resume heartbeat "
                    "monitoring\" and \"Resume market intelligence\"." + SPEAK_IT,
        annotations=SETTING,
    )
    @spoken_errors
    async def resume_heartbeat(task: TaskPhrase = None) -> ResumeView:
        target = await engine.resume(task)
        await notifier.changed(CONFIG_CHANGES)
        status = await read_status(engine)
        name, many = subject(target)
        first = f"{name} {'are' if many else 'is'} running again"
        if target.kind != "engine" and status.state == "paused":
            first += ", but the heartbeat as a whole is still paused"
        elif status.state == "disabled":
            first += ", but the heartbeat is switched off in its settings"
        second = ""
        if status.state == "running" and status.next_task and status.next_run_at:
            second = f"Next up: {spoken_task(status.next_task)}, {from_now(status.next_run_at, engine.clock.now())}"
        return ResumeView(speech=say(first, second), target=TargetView.of(target), state=status.state)

    @mcp.tool(
        title="Configure heartbeat checks",
        description="Turn a task, a group or the whole heartbeat on or off, or change how often it runs. Without a "
                    "task, an interval re-times the base cycle that most checks follow. Answers \"Enable stale "
                    "property monitoring\", \"Disable market intelligence checks\" and \"Configure heartbeat to run "
                    "every 10 minutes\"." + SPEAK_IT,
        annotations=SETTING,
    )
    @spoken_errors
    async def configure_heartbeat_task(
        task: TaskPhrase = None,
        enabled: Annotated[bool | None, Field(description="true to turn on, false to turn off.")] = None,
        interval: IntervalPhrase = None,
    ) -> ConfigureView:
        delta = parse_duration(interval) if interval is not None else None
        target = await engine.configure(task, enabled=enabled, interval=delta)
        await notifier.changed(CONFIG_CHANGES)
        seconds = int(delta.total_seconds()) if delta is not None else None
        schedule = Every(seconds).describe() if seconds is not None else None
        return ConfigureView(speech=say(_configured(target.kind, *subject(target), enabled, schedule)),
                             target=TargetView.of(target), enabled=enabled, schedule=schedule, interval_seconds=seconds)

    @mcp.tool(
        title="Heartbeat report",
        description="The findings of the heartbeat: open action items by priority with the top ones first, the last "
                    "cycle, and each check's state; optionally for one group or task, or only items at a priority "
                    "or above. Answers \"Show me the full heartbeat report\", \"What did the last cycle find?\" and "
                    "\"Any action items from heartbeat?\"." + SPEAK_IT,
        annotations=READ_ONLY,
    )
    @spoken_errors
    async def get_heartbeat_report(
        group: GroupPhrase = None, task: TaskPhrase = None, min_priority: PriorityChoice = None,
    ) -> ReportView:
        phrase = task or group
        scope = await resolve(engine, phrase) if phrase else None
        limited = scope is not None and scope.kind != "engine"
        report = await engine.report(tasks=list(scope.tasks) if limited else None, min_priority=min_priority)
        return ReportView(
            speech=report_speech(report, engine.clock.now(), scope=scope, min_priority=min_priority),
            scope=TargetView.of(scope) if scope else None,
            min_priority=min_priority,
            report=report,
        )


def _outcome_words(outcome: RunOutcome) -> str:
    if outcome.status in (RunStatus.failed, RunStatus.timed_out):
        return outcome.status.value.replace("_", " ")
    return plural(len(outcome.items), "item") if outcome.items else "nothing found"


def _configured(kind: str, name: str, many: bool, enabled: bool | None, schedule: str | None) -> str:
    """The one sentence that confirms a configuration change."""
    if kind == "engine":
        if schedule is None:
            return "The heartbeat is on again" if enabled else "The heartbeat is off until you turn it back on"
        state = "" if enabled is None else f", and the heartbeat is {'on' if enabled else 'off'}"
        return f"Checks that follow the base cycle now run {schedule}{state}"
    verb = "are" if many else "is"
    parts = []
    if enabled is not None:
        parts.append(f"{verb} now {'on' if enabled else 'off'}")
    if schedule is not None:
        parts.append(f"{'run' if many else 'runs'} {schedule}")
    return f"{name} {' and '.join(parts)}"
