"""Read-only views of the heartbeat as MCP resources.

Static resource functions cannot receive a request context, so they close
over the process's one engine. Clients may subscribe to any of them; see
`CYCLE_CHANGES`, `CONFIG_CHANGES` and `ALERT_CHANGES` for what is announced when.
"""

from __future__ import annotations

import json

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from pydantic import TypeAdapter

from heartbeat_mcp.briefing import render_briefing
from heartbeat_mcp.engine import HeartbeatEngine
from heartbeat_mcp.registry import TargetError
from heartbeat_mcp.server.state import TaskView, read_status, read_task, read_tasks

STATUS = "heartbeat://status"
REPORT = "heartbeat://report/latest"
BRIEFING = "heartbeat://report/latest.md"
ACTION_ITEMS = "heartbeat://action-items"
TASKS = "heartbeat://tasks"
TASK = "heartbeat://tasks/{name}"
NOTIFICATIONS = "heartbeat://notifications"

# What a finished cycle changes, and what a pause, resume or configure changes.
CYCLE_CHANGES = (REPORT, BRIEFING, ACTION_ITEMS, STATUS, TASKS)
CONFIG_CHANGES = (STATUS, TASKS)
# What a delivered notification changes (it is about action items).
ALERT_CHANGES = (ACTION_ITEMS, NOTIFICATIONS)

JSON = "application/json"
_TASK_LIST = TypeAdapter(list[TaskView])


def register_resources(mcp: MCPServer, engine: HeartbeatEngine) -> None:
    @mcp.resource(STATUS, name="status", title="Heartbeat status", mime_type=JSON,
                  description="Running, paused or failing; last cycle; open items by priority.")
    async def status() -> str:
        return (await read_status(engine)).model_dump_json(indent=2)

    @mcp.resource(REPORT, name="report", title="Latest heartbeat report", mime_type=JSON,
                  description="The report of the latest cycle: status, action items, system health, each check's state.")
    async def report() -> str:
        return (await engine.report()).model_dump_json(indent=2)

    @mcp.resource(BRIEFING, name="briefing", title="Latest heartbeat briefing", mime_type="text/markdown",
                  description="The latest report as a readable briefing, most urgent items first.")
    async def briefing() -> str:
        return render_briefing(await engine.report(), engine.settings.timezone)

    @mcp.resource(ACTION_ITEMS, name="action-items", title="Open action items", mime_type=JSON,
                  description="Open action items, most urgent first, with counts by priority.")
    async def action_items() -> str:
        found = await engine.report()
        return json.dumps({
            "counts": found.action_item_counts,
            "items": [i.model_dump(mode="json") for i in found.action_items],
        }, indent=2)

    @mcp.resource(NOTIFICATIONS, name="notifications", title="Recent notifications", mime_type=JSON,
                  description="What the heartbeat told, newest first, and where each went.")
    async def notifications() -> str:
        return json.dumps(await engine.notifications(), indent=2, default=str)

    @mcp.resource(TASKS, name="tasks", title="Heartbeat checks", mime_type=JSON,
                  description="Every check: group, schedule, on or off, paused, last run and open items.")
    async def tasks() -> str:
        return _TASK_LIST.dump_json(await read_tasks(engine), indent=2).decode()

    @mcp.resource(TASK, name="task", title="One heartbeat check", mime_type=JSON,
                  description="One check's configuration and its recent runs, by task name.")
    async def task(name: str) -> str:
        try:
            return (await read_task(engine, name)).model_dump_json(indent=2)
        except TargetError as exc:
            raise ResourceNotFoundError(str(exc)) from None
