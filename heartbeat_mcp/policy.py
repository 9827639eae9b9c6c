"""When the agent is told: quiet hours and how soon an unanswered alert is repeated.

Both are read from settings as people write them ("21:00-07:00", "4 hours,
urgent=1h, low=never") and used by the alerting code to decide, for each
notification, whether it goes out now, waits for the morning, or is not
repeated at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from heartbeat_mcp.schedule import DailyAt, ScheduleError, parse_duration, speak_duration
from heartbeat_mcp.task import Priority

_WINDOW = re.compile(r"\s*(\d{1,2}):(\d{2})\s*(?:-|–|to)\s*(\d{1,2}):(\d{2})\s*")
_NEVER = ("never", "off", "none", "no")


@dataclass(frozen=True)
class QuietHours:
    """A daily window, local to the agent's time zone, in which only urgent notifications go out.

    The window may cross midnight (21:00-07:00). Held notifications are sent
    together when it ends.
    """

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        match = _WINDOW.fullmatch(text)
        if match is None:
            raise ValueError("not a window")
        h1, m1, h2, m2 = map(int, match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError("not a time of day")
        window = cls(time(h1, m1), time(h2, m2))
        if window.start == window.end:
            raise ValueError("an empty window")
        return window

    def contains(self, moment: datetime, timezone: str) -> bool:
        local = moment.astimezone(ZoneInfo(timezone)).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, moment: datetime, timezone: str) -> datetime:
        """The end of the window `moment` falls in (the next local `end` after it)."""
        return DailyAt(self.end, timezone).next_after(moment)

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class RepeatIntervals:
    """How long an open, unacknowledged item waits before it is told again, by priority; None: never."""

    default: int | None
    by_priority: dict[Priority, int | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> RepeatIntervals:
        default: int | None = None
        given_default = False
        by_priority: dict[Priority, int | None] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            if sep:
                key = name.strip().lower()
                if key == "default":
                    default, given_default = _seconds(value), True
                elif key in Priority.__members__:
                    by_priority[Priority(key)] = _seconds(value)
                else:
                    raise ValueError(f"unknown priority {key!r}")
            else:
                if given_default:
                    raise ValueError("two defaults")
                default, given_default = _seconds(part), True
        if not given_default:
            default = 4 * 3600
        return cls(default, by_priority)

    def seconds_for(self, priority: Priority) -> int | None:
        return self.by_priority.get(priority, self.default)

    def describe(self) -> str:
        parts = [_say(self.default)]
        parts += [f"{p.value}={_say(s)}" for p, s in sorted(self.by_priority.items(), key=lambda kv: -kv[0].rank)]
        return ", ".join(parts)


def _seconds(text: str) -> int | None:
    if text.strip().lower() in _NEVER:
        return None
    try:
        seconds = int(parse_duration(text).total_seconds())
    except ScheduleError:
        raise ValueError("not a duration") from None
    if seconds < 60:
        raise ValueError("shorter than a minute")
    return seconds


def _say(seconds: int | None) -> str:
    return "never" if seconds is None else speak_duration(seconds)


__all__ = ["QuietHours", "RepeatIntervals"]
