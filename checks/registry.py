"""Where checks declare themselves: name, group, schedule and checklist line sit on the function.

A newcomer finds a check's rule (its docstring), its schedule (the
decorator) and its test (tests/checks/test_<group>.py) in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from heartbeat_mcp.schedule import DailyAt, Every, EveryCycle, Schedule
from heartbeat_mcp.task import Handler, Priority, TaskSpec

PORTFOLIO = "Portfolio monitoring"
MARKET = "Market intelligence"
RELATIONSHIPS = "Relationship health"
SYSTEM = "System health"
PREDICTIVE = "Predictive insights"
SCHEDULED = "Scheduled tasks"
DIGEST = "Daily digest"

# The tiers of domain.md. Portfolio and system health follow the base cycle
# (HEARTBEAT_INTERVAL_SECONDS, five minutes by default).
BASE_CYCLE = EveryCycle()
EVERY_15_MINUTES = Every(15 * 60)
HOURLY = Every(3600)
EVERY_MINUTE = Every(60)


def daily_at_eight(timezone: str = "UTC") -> Schedule:
    from datetime import time

    return DailyAt(time(8, 0), timezone)


CHECKS: list[TaskSpec] = []
H = TypeVar("H", bound=Handler)


def check(
    name: str,
    *,
    group: str,
    schedule: Schedule,
    description: str,
    priority: Priority = Priority.medium,
    timeout_seconds: float = 60.0,
    after: tuple[str, ...] = (),
    system: bool = False,
    read_only: bool = False,
) -> Callable[[H], H]:
    """Register the decorated function as a heartbeat task of the realtor pack."""

    def register(handler: H) -> H:
        CHECKS.append(TaskSpec(
            name=name, handler=handler, schedule=schedule, group=group, description=description,
            priority=priority, timeout_seconds=timeout_seconds, after=after, system=system, read_only=read_only,
        ))
        return handler

    return register
