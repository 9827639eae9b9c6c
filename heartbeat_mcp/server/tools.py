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
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, BeforeValidator, Field

from heartbeat_mcp.engine import HeartbeatEngine, RunOutcome
from heartbeat_mcp.registry import spoken_task
from heartbeat_mcp.report import Report, plural
from heartbeat_mcp.schedule import Every, parse_duration, parse_until
from heartbeat_mcp.server.resources import ALERT_CHANGES, CONFIG_CHANGES
from heartbeat_mcp.server.speech import (
    about, clock_time, first_sentence, from_now, items_sentence, say, spoken_errors, subject, task_names,
)
from heartbeat_mcp.server.state import StatusView, TargetView, read_status, report_speech, resolve
from heartbeat_mcp.server.subscriptions import ResourceNotifier
from heartbeat_mcp.task import Priority, RunStatus

SPEAK_IT = " Say the `speech` field to the user; the other fields are details for follow-up questions."

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
# Pauses and switches are settings: reversible, and repeating one changes nothing more.
SETTING = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
# A run executes whatever checks are installed, and checks may probe third-party services.
RUNNING = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)


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
    description="How long, as said: 'two hours', 'for 30 minutes', 'until tomorrow morning', 'until 5pm', or "
                "an ISO 8601 time to pause until. Leave it out to pause until resumed.",
)]
IntervalPhrase = Annotated[Annotated[str, Field(max_length=100)] | float | None, BeforeValidator(_as_text), Field(
    description="How often to run, as said: '10 minutes', 'every hour', '1h30m', 'every ten minutes', or a number "
                "of seconds (600). Between 10 seconds and 7 days.",
)]
PriorityChoice = Annotated[Priority | None, BeforeValidator(_priority), Field(
    description="Only items at this priority or above: low, medium, high or urgent.",
)]

_UNTIL_RESUMED = re.compile(
    r"(indefinitely|forever|until (resumed|further notice|(i|you) (say so|resume( it)?|turn it back on)))[.!]?"
)
_TIMESTAMP = re.compile(r"(?:until |till )?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}\S*)", re.IGNORECASE)


def _pause_end(duration: str | None, now: datetime, timezone: str) -> datetime | None:
    """When a pause ends, or None for "until resumed".

    Besides what people say, assistants often turn "until 3pm" into an ISO
    time themselves; one without an offset is the agent's local time.
    """
    said = (duration or "").strip()
    if not said or _UNTIL_RESUMED.fullmatch(said.lower()):
        return None
    if (stamp := _TIMESTAMP.fullmatch(said)) is not None:
        try:
            moment = datetime.fromisoformat(stamp[1])
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))
    return parse_until(said, now, timezone)


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


class AcknowledgeView(BaseModel):
    speech: str = Field(description="What to say to the user.")
    acknowledged: list[int] = Field(description="The items acknowledged now (already acknowledged ones are left out).")
    target: TargetView | None = Field(description="The task or group whose items were acknowledged, if one was named.")


class SnoozeView(BaseModel):
    speech: str = Field(description="What to say to the user.")
    id: int
    task: str
    snoozed_until: datetime


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
        until = _pause_end(duration, now, zone)
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
        delta = parse_duration(str(interval)) if interval is not None else None
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
                    "or above. Answers \"Show me the full heartbeat report\", \"Show me the last heartbeat cycle\", "
                    "\"What did the last cycle find?\" and \"Any action items from heartbeat?\"." + SPEAK_IT,
        annotations=READ_ONLY,
    )
    @spoken_errors
    async def get_heartbeat_report(
        group: GroupPhrase = None, task: TaskPhrase = None, min_priority: PriorityChoice = None,
    ) -> ReportView:
        phrase = task or group
        scope = await resolve(engine, phrase) if phrase else None
        limited = scope is not None and scope.kind != "engine"
        report = await engine.report(tasks=list(scope.tasks) if limited else None, min_priority=min_priority,
                                     heard=True)
        return ReportView(
            speech=report_speech(report, engine.clock.now(), scope=scope, min_priority=min_priority),
            scope=TargetView.of(scope) if scope else None,
            min_priority=min_priority,
            report=report,
        )


    @mcp.tool(
        title="Acknowledge action items",
        description="Mark open action items as heard, so the heartbeat stops repeating them; it still speaks up if "
                    "one becomes more urgent, and an item that goes away and comes back is new again. Give the item "
                    "ids from the report, \"all\", or a task or group to acknowledge all of its items. Answers "
                    "\"Got it, stop reminding me\", \"Acknowledge all action items\" and \"Acknowledge the stale "
                    "property alerts\"." + SPEAK_IT,
        annotations=SETTING,
    )
    @spoken_errors
    async def acknowledge_action_items(
        ids: Annotated[list[int] | Literal["all"] | None, Field(
            description="Action item ids from the report, or \"all\" for every open item.")] = None,
        task: TaskPhrase = None,
    ) -> AcknowledgeView:
        if ids is None and task is None:
            raise ToolError("Say which items: their numbers, all of them, or the check they came from.")
        target = await resolve(engine, task) if task else None
        done = await engine.acknowledge(None if ids in (None, "all") else list(ids), task)
        await notifier.changed(ALERT_CHANGES)
        if not done:
            first = "Nothing new to acknowledge: those items were already acknowledged"
        else:
            first = f"Acknowledged {plural(len(done), 'item')}" + (f" from {target.spoken}" if target else "")
            first += "; I won't repeat them unless they get more urgent"
        return AcknowledgeView(speech=say(first), acknowledged=done,
                               target=TargetView.of(target) if target else None)

    @mcp.tool(
        title="Snooze an action item",
        description="Silence one open action item for a while; if it is still open then, the heartbeat tells it "
                    "again. Answers \"Snooze that for two hours\" and \"Remind me about it tomorrow morning\"."
                    + SPEAK_IT,
        annotations=SETTING,
    )
    @spoken_errors
    async def snooze_action_item(
        id: Annotated[int, Field(description="The action item's id, from the report.")],  # noqa: A002 - the word people use
        duration: Annotated[str, Field(max_length=100, description="How long, as said: 'two hours', 'until tomorrow "
                                                                   "morning', 'until 5pm', or an ISO 8601 time.")],
    ) -> SnoozeView:
        now, zone = engine.clock.now(), engine.settings.timezone
        until = _pause_end(duration, now, zone)
        if until is None:
            raise ToolError("Say how long to snooze it for, like two hours or until tomorrow morning.")
        item = await engine.snooze(id, until)
        await notifier.changed(ALERT_CHANGES)
        return SnoozeView(speech=say(f"Snoozed until {clock_time(until, now, zone)}", first_sentence(item.message)),
                          id=item.id, task=item.task, snoozed_until=until)


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
