"""The heartbeat report: the plan's status JSON, built from the database.

Every replica builds the same report from shared tables, so a voice tool on
one replica answers for cycles another replica ran.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from heartbeat_mcp.models import ActionItemRow, TaskConfig, TaskRun
from heartbeat_mcp.registry import spoken_task
from heartbeat_mcp.task import Priority, RunStatus

ReportStatus = Literal["healthy", "action_needed", "degraded", "unhealthy"]
PRIORITY_ORDER = case({p.value: p.rank for p in Priority}, value=ActionItemRow.priority, else_=0)
# Most pressing first, then newest: the order of every item list, and which item a briefing starts with.
OPEN_ITEMS_ORDER = (PRIORITY_ORDER.desc(), ActionItemRow.first_seen.desc(), ActionItemRow.id)
FAILED = (RunStatus.failed.value, RunStatus.timed_out.value)


class ReportItem(BaseModel):
    """An open action item. Id lists appear as ``affected_<kind>`` (affected_properties, ...)."""

    model_config = ConfigDict(extra="allow")

    id: int
    priority: Priority
    task: str
    group: str
    message: str
    next_step: str = ""
    first_seen: datetime
    last_seen: datetime
    acknowledged: bool = False
    snoozed_until: datetime | None = None


class TaskState(BaseModel):
    name: str
    group: str
    enabled: bool
    paused: bool
    schedule: str
    last_run_at: datetime | None
    last_status: str | None
    next_run_at: datetime | None
    consecutive_failures: int
    open_items: int = 0
    last_error: str | None = None


class Report(BaseModel):
    status: ReportStatus
    last_cycle: datetime | None
    cycle_duration_ms: float | None
    tasks_executed: int
    tasks_failed: int
    action_items: list[ReportItem]
    action_item_counts: dict[str, int] = Field(description="Open action items by priority, all of them.")
    new_since_last_asked: int | None = Field(
        default=None, description="Open items first seen since the agent last asked for the report; empty if never asked.")
    last_asked: datetime | None = None
    system_health: dict[str, str]
    speech: str
    generated_at: datetime
    last_cycle_tasks: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict, description="Structured findings by task (queues, digests).")
    tasks: list[TaskState] = Field(default_factory=list)


def item_from_row(row: ActionItemRow, group: str) -> ReportItem:
    extra = {f"affected_{kind}": ids for kind, ids in (row.affected or {}).items()}
    return ReportItem(
        id=row.id, priority=Priority(row.priority), task=row.task_name, group=group, message=row.message,
        next_step=row.next_step, first_seen=row.first_seen, last_seen=row.last_seen,
        acknowledged=row.acknowledged_at is not None, snoozed_until=row.snoozed_until, **extra,
    )


def open_items_query(now: datetime, tasks: list[str] | None = None, min_priority: Priority | None = None):
    query = select(ActionItemRow).where(ActionItemRow.resolved_at.is_(None))
    if tasks is not None:
        query = query.where(ActionItemRow.task_name.in_(tasks))
    if min_priority is not None:
        query = query.where(PRIORITY_ORDER >= min_priority.rank)
    return query.order_by(*OPEN_ITEMS_ORDER)


def build_report(
    session: Session,
    now: datetime,
    *,
    database_ok: bool = True,
    item_limit: int = 50,
    tasks: list[str] | None = None,
    min_priority: Priority | None = None,
    last_asked: datetime | None = None,
    rows: list[TaskConfig] | None = None,
) -> Report:
    """Assemble the report in four statements, whatever the number of findings.

    `last_asked` is when the agent last heard the report: open items first
    seen after it are counted as new. `rows` are the task rows when the
    caller has just read them.
    """
    if rows is None:
        rows = list(session.scalars(select(TaskConfig).order_by(TaskConfig.id)))
    group_of = {r.task_name: r.group_name for r in rows}
    items = list(session.scalars(open_items_query(now, tasks, min_priority).limit(item_limit)))
    needs_attention = case(
        (and_(ActionItemRow.acknowledged_at.is_(None),
              or_(ActionItemRow.snoozed_until.is_(None), ActionItemRow.snoozed_until <= now)), 1),
        else_=0,
    )
    is_new = case((ActionItemRow.first_seen > last_asked, 1), else_=0) if last_asked else literal(0)
    counts_query = select(
        ActionItemRow.task_name, ActionItemRow.priority, func.count(), func.sum(needs_attention), func.sum(is_new)
    ).where(ActionItemRow.resolved_at.is_(None)).group_by(ActionItemRow.task_name, ActionItemRow.priority)
    per_task: dict[str, int] = {}
    counts = {p.value: 0 for p in Priority}
    unhandled = new = 0
    for task, priority, n, attention, fresh in session.execute(counts_query):
        per_task[task] = per_task.get(task, 0) + n
        unhandled += int(attention or 0)
        if (tasks is None or task in tasks) and (min_priority is None or Priority(priority).rank >= min_priority.rank):
            counts[priority] = counts.get(priority, 0) + n
            new += int(fresh or 0)
    latest_cycle = select(TaskRun.cycle_id).order_by(TaskRun.finished_at.desc(), TaskRun.id.desc()).limit(1).scalar_subquery()
    cycle_runs = list(session.execute(
        select(TaskRun.task_name, TaskRun.status, TaskRun.started_at, TaskRun.finished_at).where(TaskRun.cycle_id == latest_cycle)
    ))

    system_health: dict[str, str] = {}
    details: dict[str, Any] = {}
    for row in rows:
        result = row.last_result or {}
        system_health.update(result.get("data", {}).get("system_health", {}))
        shown = {k: v for k, v in result.get("data", {}).items() if k != "system_health"}
        if shown and (tasks is None or row.task_name in tasks):
            details[row.task_name] = shown
    if not database_ok:
        system_health["database"] = "down"

    last_cycle = max((r.finished_at for r in cycle_runs), default=None)
    duration = None
    if cycle_runs:
        duration = round((last_cycle - min(r.started_at for r in cycle_runs)).total_seconds() * 1000, 1)
    failed = sum(1 for r in cycle_runs if r.status in FAILED)

    if not database_ok or system_health.get("database") == "down":
        status: ReportStatus = "unhealthy"
    elif any(r.last_status in FAILED for r in rows if r.enabled) or any(
        v in ("degraded", "down") for v in system_health.values()
    ):
        status = "degraded"
    elif unhandled > 0:
        status = "action_needed"
    else:
        status = "healthy"

    report = Report(
        status=status,
        last_cycle=last_cycle,
        cycle_duration_ms=duration,
        tasks_executed=len(cycle_runs),
        tasks_failed=failed,
        action_items=[item_from_row(i, group_of.get(i.task_name, "")) for i in items],
        action_item_counts=counts,
        new_since_last_asked=new if last_asked else None,
        last_asked=last_asked,
        system_health=system_health,
        speech="",
        generated_at=now,
        last_cycle_tasks=sorted(r.task_name for r in cycle_runs),
        details=details,
        tasks=[
            TaskState(
                name=r.task_name, group=r.group_name, enabled=r.enabled,
                paused=bool(r.paused and (r.paused_until is None or r.paused_until > now)),
                schedule=r.schedule, last_run_at=r.last_run_at, last_status=r.last_status, next_run_at=r.next_run_at,
                consecutive_failures=r.consecutive_failures, open_items=per_task.get(r.task_name, 0),
                last_error=r.last_error,
            )
            for r in rows
        ],
    )
    report.speech = speak_report(report)
    return report


STATUS_WORDS = {
    "healthy": "All clear",
    "action_needed": "The heartbeat is running and found things to act on",
    "degraded": "The heartbeat is running, but some checks are failing",
    "unhealthy": "The heartbeat can't reach its database",
}


def speak_report(report: Report) -> str:
    """Two sentences at most: the state, then the single most important thing."""
    total = sum(report.action_item_counts.values())
    if report.status == "unhealthy":
        return "The heartbeat can't reach its database, so nothing is being checked right now. It will retry by itself."
    if report.last_cycle is None:
        return "The heartbeat hasn't finished a cycle yet. Its first checks are due shortly."
    first = STATUS_WORDS[report.status]
    if report.status == "degraded":
        failing = [t.name for t in report.tasks if t.last_status in FAILED and t.enabled]
        if failing:
            first += f": {spoken_list([spoken_task(f) for f in failing[:2]])}" + (" and others" if len(failing) > 2 else "")
    if total == 0:
        return f"{first}. No action items are open."
    urgent = report.action_item_counts.get("urgent", 0) + report.action_item_counts.get("high", 0)
    lead = report.action_items[0].message if report.action_items else ""
    count = plural(total, "item") + " need" + ("s" if total == 1 else "") + " attention"
    if urgent:
        count += f", {urgent} of them urgent or high"
    return f"{first}; {count}. {clip(lead, 22)}".strip()


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def spoken_list(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def clip(sentence: str, max_words: int) -> str:
    """Keep a spoken sentence short; a clipped one still ends like a sentence."""
    words = sentence.split()
    if len(words) <= max_words:
        return sentence if sentence.endswith((".", "!", "?")) or not sentence else sentence + "."
    return " ".join(words[:max_words]).rstrip(",;:") + "…"
