"""When tasks run, and how people say durations out loud.

Schedules arrive as text from two directions: typed in HEARTBEAT.md and
spoken to a voice assistant ("check deadlines every ten minutes", "snooze it
until tomorrow morning"). Both go through the forgiving parsers here, so the
engine only ever sees two exact shapes, `Every` and `DailyAt`, and everything
the engine says back (`describe`, `speak_duration`) reads naturally aloud and
parses again to the same value.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DailyAt",
    "EVERY_CYCLE",
    "Every",
    "EveryCycle",
    "Schedule",
    "ScheduleError",
    "SCHEDULE_EXAMPLES",
    "parse_duration",
    "parse_schedule",
    "parse_until",
    "speak_duration",
]

SCHEDULE_EXAMPLES = "'every 10 minutes' or '08:00 every day'"
_DURATION_EXAMPLES = "'ten minutes', 'two hours' or '1h30m'"
_UNTIL_EXAMPLES = "'two hours', 'until tomorrow morning' or 'until 5pm'"

_DAY = 86_400
_MORNING = time(8, 0)
_EVENING = time(19, 0)


class ScheduleError(ValueError):
    """Text that is not a schedule or duration; the message is meant to be read aloud."""


def _not_understood(text: str, what: str, examples: str) -> ScheduleError:
    """Build the one error shape every parser here uses, so they all sound alike."""
    said = text.strip()
    if not said:
        return ScheduleError(f"no {what} given; say for example {examples}")
    return ScheduleError(f"'{said}' is not a {what}; say for example {examples}")


def _require_aware(now: datetime) -> None:
    # A naive datetime would silently mean "server local time": refuse it loudly.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {now.isoformat()}")


def _later(now: datetime, seconds: float) -> datetime:
    # Add in UTC: adding to a zoned datetime moves the wall clock, which is an
    # hour off when a DST change falls in between.
    return now.astimezone(UTC) + timedelta(seconds=seconds)


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"'{timezone}' is not a time zone; use a name like 'America/New_York' or 'Europe/Berlin'"
        ) from None


# --- speaking durations ---------------------------------------------------------

_UNITS: tuple[tuple[str, int], ...] = (("day", _DAY), ("hour", 3600), ("minute", 60), ("second", 1))


def _largest_unit(seconds: int) -> int:
    return next(index for index, (_, size) in enumerate(_UNITS) if seconds >= size)


def _spoken_parts(total: int) -> list[tuple[int, str, int]]:
    """Split whole seconds into at most two units, largest first: (count, name, size).

    The second unit is rounded, so the parts may not add up to `total`;
    callers that need exactness compare the sum.
    """
    if total < 120 and total != 60:
        # People say "90 seconds", not "1 minute 30 seconds".
        return [(total, "second", 1)]
    index = _largest_unit(total)
    grain = _UNITS[index + 1][1] if index + 1 < len(_UNITS) else 1
    total = (total + grain // 2) // grain * grain
    index = _largest_unit(total)  # rounding may carry into a larger unit (23h59m40s -> 1 day)
    parts = []
    for name, size in _UNITS[index : index + 2]:
        count, total = divmod(total, size)
        if count:
            parts.append((count, name, size))
    return parts


def _say(parts: list[tuple[int, str, int]]) -> str:
    return " ".join(f"{count} {name}{'' if count == 1 else 's'}" for count, name, _ in parts)


def speak_duration(seconds: float) -> str:
    """Say a duration the way a person would: '1 hour 30 minutes', never '5400 seconds'."""
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {seconds}")
    return _say(_spoken_parts(int(seconds + 0.5)))


# --- schedules ------------------------------------------------------------------


@dataclass(frozen=True)
class Every:
    """A fixed interval, counted from the previous slot rather than the wall clock."""

    seconds: int

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, int) or self.seconds < 1:
            raise ScheduleError(f"an interval must be a whole number of seconds, at least 1, not {self.seconds!r}")

    @property
    def interval_seconds(self) -> int:
        return self.seconds

    def next_after(self, now: datetime) -> datetime:
        _require_aware(now)
        return _later(now, self.seconds)

    def describe(self) -> str:
        """Speakable, and exact: `parse_schedule(describe())` gives this schedule back."""
        parts = _spoken_parts(self.seconds)
        if sum(count * size for count, _, size in parts) != self.seconds:
            return f"every {self.seconds} seconds"
        if len(parts) == 1 and parts[0][0] == 1:
            return f"every {parts[0][1]}"
        return f"every {_say(parts)}"


EVERY_CYCLE = "every cycle"


@dataclass(frozen=True)
class EveryCycle(Every):
    """Follows the base cycle (HEARTBEAT_INTERVAL_SECONDS, or the interval set by voice).

    `seconds` is the base interval in force; the engine fills it in, so
    "configure heartbeat to run every 10 minutes" re-times every task that
    follows the base cycle and none that has a schedule of its own.
    """

    seconds: int = 300

    def describe(self) -> str:
        return EVERY_CYCLE


@dataclass(frozen=True)
class DailyAt:
    """A local wall-clock time each day; follows the clocks through DST changes."""

    at: time
    timezone: str

    def __post_init__(self) -> None:
        if self.at.tzinfo is not None:
            raise ScheduleError("a daily time is local to the schedule's time zone; pass a time without tzinfo")
        if self.at.second or self.at.microsecond:
            raise ScheduleError(f"a daily time is a whole minute, not {self.at.isoformat()}")
        _zone(self.timezone)

    @property
    def interval_seconds(self) -> int:
        # Nominal: DST days are 23 or 25 hours long.
        return _DAY

    def next_after(self, now: datetime) -> datetime:
        _require_aware(now)
        zone = _zone(self.timezone)
        today = now.astimezone(zone).date()
        candidate = _wall_clock(today, self.at, zone)
        if candidate <= now:
            candidate = _wall_clock(today + timedelta(days=1), self.at, zone)
        return candidate

    def describe(self) -> str:
        return f"{self.at:%H:%M} every day"


Schedule = Every | EveryCycle | DailyAt


def _wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant the local clocks show `at` on `day`.

    On a fall-back day the first of the two instants wins, so a daily task
    runs once. On a spring-forward day a time inside the gap never shows on
    the clocks; the task runs at the first instant after the gap instead of
    being skipped for the day.
    """
    wall = datetime.combine(day, at, tzinfo=zone)
    instant = wall.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant
    # In a gap, fold=1 reads the wall time with the later offset: an instant
    # before the jump. Bisect to the first second on the far side of it.
    before, after = wall.replace(fold=1).astimezone(UTC), instant
    new_offset = after.astimezone(zone).utcoffset()
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) // 2
        if middle.astimezone(zone).utcoffset() == new_offset:
            after = middle
        else:
            before = middle
    return after


# --- reading what people say ------------------------------------------------------

_ONES = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen"
        " fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {
    word: 10 * value
    for value, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)
}
_ARTICLES = ("a", "an")  # "an hour": one
_UNIT_WORDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), _DAY),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 7 * _DAY),
}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _words(text: str) -> list[str]:
    """Lower-case words with digits split from units ('1h30m' -> 1 h 30 m)."""
    text = text.strip().lower().rstrip(".!?")
    text = re.sub(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)", " ", text)
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # twenty-five
    return text.replace(",", " ").split()


def _lex(words: list[str]) -> list[tuple[str, float]] | None:
    """Classify words as ("num", n), ("unit", seconds), ("half", 0) or ("and", 0); None if any is unknown."""
    tokens: list[tuple[str, float]] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if _NUMBER.fullmatch(word):
            tokens.append(("num", float(word)))
        elif word in _TENS:
            ones = _ONES.get(words[index], 0) if index < len(words) else 0
            if 0 < ones < 10:
                index += 1  # "twenty five"
            else:
                ones = 0
            tokens.append(("num", _TENS[word] + ones))
        elif word in _ONES or word in _ARTICLES:
            tokens.append(("num", _ONES.get(word, 1)))
        elif word in _UNIT_WORDS:
            tokens.append(("unit", _UNIT_WORDS[word]))
        elif word in ("half", "and"):
            tokens.append((word, 0))
        else:
            return None
    return tokens


def _seconds_in(words: list[str]) -> float | None:
    """Add up spoken components: 'an hour and a half', 'half an hour', '1 h 30 m', 'ninety'."""
    tokens = _lex(words)
    if not tokens:
        return None
    if len(tokens) == 1 and tokens[0][0] == "num" and words[0] not in _ARTICLES:
        return tokens[0][1]  # a bare number counts seconds, like a config value would
    position = 0

    def take(kind: str) -> float | None:
        nonlocal position
        if position < len(tokens) and tokens[position][0] == kind:
            position += 1
            return tokens[position - 1][1]
        return None

    def and_a_half() -> float:
        nonlocal position
        if [kind for kind, _ in tokens[position : position + 3]] == ["and", "num", "half"]:
            if tokens[position + 1][1] == 1:
                position += 3
                return 0.5
        return 0.0

    total = 0.0
    while position < len(tokens):
        if total:
            take("and")
        half = take("half") is not None
        amount = take("num")
        amount = (1.0 if amount is None else amount) + and_a_half()  # "every minute", "one and a half hours"
        unit = take("unit")
        if unit is None:
            return None
        amount += and_a_half()  # "an hour and a half"
        total += amount * unit * (0.5 if half else 1.0)
    return total


def _duration_words(text: str) -> list[str]:
    words = _words(text)
    while words and words[0] in ("for", "every"):
        words = words[1:]
    return words


def parse_duration(text: str) -> timedelta:
    """Read a spoken or typed duration; leading 'for' and 'every' are ignored."""
    seconds = _seconds_in(_duration_words(text))
    if seconds is None or seconds <= 0:
        raise _not_understood(text, "duration", _DURATION_EXAMPLES)
    return timedelta(seconds=seconds)


_MERIDIEM = re.compile(r"\b([ap])\.?m\.?(?=\s|$)")
_CLOCK = re.compile(r"(?P<hour>\d{1,2})(?:[:.](?P<minute>\d{2}))?\s*(?P<meridiem>am|pm)?")
_NAMED_TIMES = {"noon": time(12, 0), "midday": time(12, 0), "midnight": time(0, 0)}


def _parse_clock(text: str) -> time | None:
    """Read a time of day: '8', '08:00', '8am', '8:30 pm', '17:00', 'noon'."""
    text = _MERIDIEM.sub(r"\1m", text.strip().lower())
    if text in _NAMED_TIMES:
        return _NAMED_TIMES[text]
    match = _CLOCK.fullmatch(text)
    if match is None:
        return None
    hour, minute = int(match["hour"]), int(match["minute"] or 0)
    if match["meridiem"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match["meridiem"] == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


_DAILY = (
    re.compile(r"(?:every day|each day|daily)(?: at)? (?P<clock>.+)"),
    re.compile(r"(?:at )?(?P<clock>.+?) (?:every day|each day|daily)"),
)


@functools.lru_cache(maxsize=1024)
def parse_schedule(text: str, timezone: str) -> Schedule:
    """Read a schedule as people write or say it; `timezone` places daily times.

    Remembered: the engine reads every task's stored schedule after each run.
    """
    phrase = " ".join(_words(text))
    if phrase in (EVERY_CYCLE, "each cycle", "base cycle", "every heartbeat", "every beat"):
        return EveryCycle()
    for pattern in _DAILY:
        match = pattern.fullmatch(phrase)
        if match and (at := _parse_clock(match["clock"])) is not None:
            return DailyAt(at, timezone)
    words = ["hour"] if phrase == "hourly" else _duration_words(phrase)
    seconds = _seconds_in(words)
    if seconds is None or round(seconds) < 1:
        raise _not_understood(text, "schedule", SCHEDULE_EXAMPLES)
    return Every(round(seconds))


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_PARTS_OF_DAY = {"morning": _MORNING, "afternoon": time(14, 0), "evening": _EVENING, "night": _EVENING}
_DAY_PHRASE = re.compile(
    rf"(?:(?P<tomorrow>tomorrow)|(?:next )?(?P<weekday>{'|'.join(_WEEKDAYS)}))"
    rf"(?: (?:(?P<part>{'|'.join(_PARTS_OF_DAY)})|at (?P<clock>.+)))?"
)


def parse_until(text: str, now: datetime, timezone: str) -> datetime:
    """Read when a snooze or pause ends: 'two hours', 'until tomorrow morning', 'until 5pm'.

    A day without a time means its morning (08:00 local), when an agent's day starts.
    """
    _require_aware(now)
    zone = _zone(timezone)
    words = _words(text)
    if words and words[0] in ("until", "till", "til"):
        words = words[1:]
    elif (seconds := _seconds_in(_duration_words(text))) is not None and seconds > 0:
        return _later(now, seconds)
    phrase = " ".join(words)
    today = now.astimezone(zone).date()

    if phrase in ("tonight", "this evening"):
        tonight = _wall_clock(today, _EVENING, zone)
        return tonight if tonight > now else _wall_clock(today + timedelta(days=1), _EVENING, zone)
    if (at := _parse_clock(phrase)) is not None:
        return DailyAt(at, timezone).next_after(now)
    match = _DAY_PHRASE.fullmatch(phrase)
    if match:
        if match["tomorrow"]:
            day = today + timedelta(days=1)
        else:
            days_ahead = (_WEEKDAYS.index(match["weekday"]) - today.weekday()) % 7 or 7
            day = today + timedelta(days=days_ahead)
        at = _parse_clock(match["clock"]) if match["clock"] else _PARTS_OF_DAY.get(match["part"], _MORNING)
        if at is not None:
            return _wall_clock(day, at, zone)
    raise _not_understood(text, "time or duration", _UNTIL_EXAMPLES)
