"""The report as a readable briefing: for the terminal and the Markdown resource alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from heartbeat_mcp.report import Report
from heartbeat_mcp.task import Priority

PRIORITY_TITLES = {
    Priority.urgent: "Urgent",
    Priority.high: "High priority",
    Priority.medium: "Worth a look",
    Priority.low: "For the record",
}


def render_briefing(report: Report, timezone: str = "UTC", *, per_priority: int = 10) -> str:
    """Markdown that also reads well as plain text: the spoken summary, then items by priority."""
    zone = ZoneInfo(timezone)
    lines = [f"# Heartbeat briefing — {_when(report.generated_at, zone)}", "", report.speech, ""]
    if report.last_cycle:
        lines.append(
            f"Status **{report.status.replace('_', ' ')}** · last cycle {_when(report.last_cycle, zone)} · "
            f"{report.tasks_executed} checks in {report.cycle_duration_ms or 0:.0f} ms · "
            f"{report.tasks_failed} failed"
        )
        lines.append("")
    for priority in sorted(Priority, key=lambda p: -p.rank):
        items = [i for i in report.action_items if i.priority == priority]
        total = report.action_item_counts.get(priority.value, 0)
        if not total:
            continue
        lines.append(f"## {PRIORITY_TITLES[priority]} ({total})")
        lines.append("")
        for item in items[:per_priority]:
            step = f" — {item.next_step}" if item.next_step else ""
            lines.append(f"- {item.message}{step} _({item.task.replace('_', ' ')}, #{item.id})_")
        if total > len(items[:per_priority]):
            lines.append(f"- … and {total - len(items[:per_priority])} more")
        lines.append("")
    for ranking in rankings(report):
        lines.append(f"## {ranking['title']}")
        lines.append("")
        for entry in ranking["entries"][:per_priority]:
            step = f" — {entry['next_step']}" if entry.get("next_step") else ""
            lines.append(f"{entry['rank']}. {entry['message']}{step}")
        lines.append("")
    if report.system_health:
        lines.append("## System health")
        lines.append("")
        lines.extend(f"- {name.replace('_', ' ')}: {state.replace('_', ' ')}" for name, state in sorted(report.system_health.items()))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def rankings(report: Report) -> list[dict[str, Any]]:
    """The ranked lists checks published (`CheckResult.data["ranking"]`), in the order of the tasks."""
    return [details["ranking"] for details in report.details.values()
            if isinstance(details.get("ranking"), dict) and details["ranking"].get("entries")]


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%a %d %b %H:%M %Z")
