"""Prompts a voice client can start from: the morning briefing and what needs attention.

Each embeds the current findings, so the assistant answers from data rather
than calling tools first, and asks for a short spoken answer: the agent is
listening, probably while driving.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver.prompts.base import UserMessage
from pydantic import Field

from heartbeat_mcp.briefing import render_briefing
from heartbeat_mcp.engine import HeartbeatEngine
from heartbeat_mcp.registry import spoken_task
from heartbeat_mcp.task import Priority

TOP_ITEMS = 5
SPOKEN_STYLE = (
    "The agent is listening, probably while driving: speak in short plain sentences, no lists, no markdown, "
    "no ids or numbers in brackets; say property addresses and people's names."
)


def register_prompts(mcp: MCPServer, engine: HeartbeatEngine) -> None:
    @mcp.prompt(name="morning_briefing", title="Morning briefing",
                description="Brief the agent on the heartbeat's findings: what is urgent today and what can wait.")
    async def morning_briefing() -> list[UserMessage]:
        briefing = render_briefing(await engine.report(), engine.settings.timezone)
        return [UserMessage(
            "Give me my morning briefing from the heartbeat report below, in at most four sentences: "
            "the most urgent things first, then one sentence on what can wait. End by asking whether I want "
            f"to act on the top item. {SPOKEN_STYLE}\n\n{briefing}"
        )]

    @mcp.prompt(name="what_needs_attention", title="What needs attention",
                description="The few open action items that matter most right now, to speak briefly.")
    async def what_needs_attention(
        min_priority: Annotated[str, Field(description="low, medium, high or urgent; default medium.")] = "medium",
    ) -> list[UserMessage]:
        floor = Priority(min_priority.strip().lower()) if min_priority.strip().lower() in Priority.__members__ else Priority.medium
        report = await engine.report(min_priority=floor)
        total = sum(report.action_item_counts.values())
        lines = [
            f"- {item.priority.value}: {item.message}" + (f" Next step: {item.next_step}" if item.next_step else "")
            + f" (from the {spoken_task(item.task)} check)"
            for item in report.action_items[:TOP_ITEMS]
        ]
        found = "\n".join(lines) if lines else f"- Nothing at {floor.value} priority or above is open."
        return [UserMessage(
            f"These are the most pressing of {total} open heartbeat action items at {floor.value} priority or above. "
            "Tell me in two or three sentences what needs my attention, most urgent first, and offer to help with "
            f"the first one. {SPOKEN_STYLE}\n\n{found}"
        )]
