"""Schedules and spoken durations: every phrase people use, and the clocks around DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from heartbeat_mcp.schedule import (
    DailyAt,
    Every,
    ScheduleError,
    parse_duration,
    parse_schedule,
    parse_until,
    speak_duration,
)

NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("every 5 minutes", Every(300)),
        ("Every 5 minutes", Every(300)),
        ("every minute", Every(60)),
        ("every hour", Every(3600)),
        ("hourly", Every(3600)),
        ("every 15 min", Every(900)),
        ("every 10 minutes", Every(600)),
        ("every ten minutes", Every(600)),
        ("10 minutes", Every(600)),
        ("1h30m", Every(5400)),
        ("every 90 seconds", Every(90)),
        ("300", Every(300)),
        ("every half hour", Every(1800)),
        ("every 2 days", Every(2 * 86400)),
        ("08:00 every day", DailyAt(time(8, 0), BERLIN)),
        ("every day at 8:00", DailyAt(time(8, 0), BERLIN)),
        ("daily at 08:00", DailyAt(time(8, 0), BERLIN)),
        ("daily at 8am", DailyAt(time(8, 0), BERLIN)),
        ("every day at 8:30 pm", DailyAt(time(20, 30), BERLIN)),
        ("every day at 12 a.m.", DailyAt(time(0, 0), BERLIN)),
        ("  Daily at 17:45.  ", DailyAt(time(17, 45), BERLIN)),
    ],
)
def test_parse_schedule(text: str, expected: object) -> None:
    assert parse_schedule(text, BERLIN) == expected


def test_parse_schedule_error_says_what_is_accepted() -> None:
    with pytest.raises(ScheduleError) as error:
        parse_schedule("banana", "UTC")
    assert str(error.value) == "'banana' is not a schedule; say for example 'every 10 minutes' or '08:00 every day'"


@pytest.mark.parametrize(
    "text", ["", "   ", "every banana", "0", "every 0 minutes", "daily at 25:00", "every day at 13pm", "08:00"]
)
def test_parse_schedule_rejects(text: str) -> None:
    with pytest.raises(ScheduleError, match="say for example 'every 10 minutes'"):
        parse_schedule(text, "UTC")


def test_daily_schedule_rejects_unknown_time_zone() -> None:
    with pytest.raises(ScheduleError, match="'Mars/Olympus' is not a time zone"):
        parse_schedule("08:00 every day", "Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10 minutes", timedelta(minutes=10)),
        ("every ten minutes", timedelta(minutes=10)),
        ("ten minutes", timedelta(minutes=10)),
        ("an hour", timedelta(hours=1)),
        ("one hour", timedelta(hours=1)),
        ("two hours", timedelta(hours=2)),
        ("half an hour", timedelta(minutes=30)),
        ("an hour and a half", timedelta(minutes=90)),
        ("one and a half hours", timedelta(minutes=90)),
        ("1 hour and 30 minutes", timedelta(minutes=90)),
        ("1.5 hours", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("1h 30m", timedelta(minutes=90)),
        ("90s", timedelta(seconds=90)),
        ("90", timedelta(seconds=90)),
        ("90 seconds", timedelta(seconds=90)),
        ("2 days", timedelta(days=2)),
        ("a day", timedelta(days=1)),
        ("a week", timedelta(weeks=1)),
        ("twenty-five minutes", timedelta(minutes=25)),
        ("twenty five minutes", timedelta(minutes=25)),
        ("ninety-nine seconds", timedelta(seconds=99)),
        ("thirty", timedelta(seconds=30)),
        ("for two hours", timedelta(hours=2)),
        ("For 15 mins.", timedelta(minutes=15)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["banana", "-5 minutes", "0", "zero minutes", "a", "half", "minutes and", "ten bananas"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ScheduleError) as error:
        parse_duration(text)
    expected = f"'{text}' is not a duration; say for example 'ten minutes', 'two hours' or '1h30m'"
    assert str(error.value) == expected


def test_parse_duration_rejects_silence_speakably() -> None:
    with pytest.raises(ScheduleError, match="^no duration given; say for example 'ten minutes'"):
        parse_duration("")


@pytest.mark.parametrize(
    ("seconds", "spoken"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (45, "45 seconds"),
        (44.6, "45 seconds"),
        (60, "1 minute"),
        (90, "90 seconds"),
        (600, "10 minutes"),
        (3600, "1 hour"),
        (5400, "1 hour 30 minutes"),
        (3661, "1 hour 1 minute"),
        (2 * 86400, "2 days"),
        (86400 + 4 * 3600, "1 day 4 hours"),
        (86400 + 5 * 60, "1 day"),
        (86399, "1 day"),
    ],
)
def test_speak_duration(seconds: float, spoken: str) -> None:
    assert speak_duration(seconds) == spoken


def test_speak_duration_rejects_negative() -> None:
    with pytest.raises(ValueError):
        speak_duration(-1)


@pytest.mark.parametrize(
    ("seconds", "described"),
    [
        (300, "every 5 minutes"),
        (60, "every minute"),
        (3600, "every hour"),
        (86400, "every day"),
        (90, "every 90 seconds"),
        (5400, "every 1 hour 30 minutes"),
        (3661, "every 3661 seconds"),
    ],
)
def test_every_describe(seconds: int, described: str) -> None:
    assert Every(seconds).describe() == described


def test_every_describe_parses_back_exactly() -> None:
    for seconds in [*range(1, 4000), 5400, 86399, 86400, 90000, 100800, 7 * 86400]:
        assert parse_schedule(Every(seconds).describe(), "UTC") == Every(seconds), seconds


def test_daily_describe_parses_back() -> None:
    schedule = DailyAt(time(8, 0), NEW_YORK)
    assert schedule.describe() == "08:00 every day"
    assert parse_schedule(schedule.describe(), NEW_YORK) == schedule


@pytest.mark.parametrize("seconds", [0, -5, 1.5, True])
def test_every_needs_whole_positive_seconds(seconds: object) -> None:
    with pytest.raises(ScheduleError):
        Every(seconds)  # type: ignore[arg-type]


def test_daily_at_needs_a_whole_minute() -> None:
    with pytest.raises(ScheduleError):
        DailyAt(time(8, 0, 30), "UTC")


def test_interval_seconds() -> None:
    assert Every(300).interval_seconds == 300
    assert DailyAt(time(8, 0), BERLIN).interval_seconds == 86400


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2024, 3, 10, 1, 58), datetime(2024, 3, 10, 7, 3, tzinfo=UTC)),  # into the spring-forward gap
        (datetime(2024, 11, 3, 1, 58), datetime(2024, 11, 3, 6, 3, tzinfo=UTC)),  # 01:58 EDT, then clocks fall back
    ],
)
def test_every_counts_real_time_across_dst(local: datetime, expected: datetime) -> None:
    after = Every(300).next_after(local.replace(tzinfo=ZoneInfo(NEW_YORK)))
    assert after == expected
    assert after.tzinfo is UTC


@pytest.mark.parametrize("schedule", [Every(300), DailyAt(time(8, 0), "UTC")])
def test_naive_now_is_a_programming_error(schedule: Every | DailyAt) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.next_after(datetime(2024, 1, 1, 12, 0))


def test_a_task_every_five_minutes_fires_288_times_a_day() -> None:
    start = datetime(2024, 3, 10, 0, 0, tzinfo=ZoneInfo(NEW_YORK))  # a 23-hour local day
    end = start.astimezone(UTC) + timedelta(hours=24)
    schedule, fires, moment = Every(300), 0, start
    while (moment := schedule.next_after(moment)) <= end:
        fires += 1
    assert fires == 288


def test_a_daily_task_fires_once_a_day_through_a_dst_week() -> None:
    zone = ZoneInfo(BERLIN)
    schedule = DailyAt(time(8, 0), BERLIN)
    moment = datetime(2024, 10, 24, 12, 0, tzinfo=zone)
    fires = []
    for _ in range(7):
        moment = schedule.next_after(moment)
        fires.append(moment.astimezone(zone))
    assert [fire.date() for fire in fires] == [date(2024, 10, 25) + timedelta(days=n) for n in range(7)]
    assert {fire.time() for fire in fires} == {time(8, 0)}


# (zone, date of the switch, local UTC offset in hours before it, after it)
DST_SWITCHES = [
    (NEW_YORK, date(2024, 3, 10), -5, -4),
    (NEW_YORK, date(2024, 11, 3), -4, -5),
    (BERLIN, date(2024, 3, 31), 1, 2),
    (BERLIN, date(2024, 10, 27), 2, 1),
]


@pytest.mark.parametrize(("timezone", "switch", "offset_before", "offset_after"), DST_SWITCHES)
@pytest.mark.parametrize("day_offset", [-1, 0, 1])
def test_daily_at_keeps_local_time_across_dst(
    timezone: str, switch: date, offset_before: int, offset_after: int, day_offset: int
) -> None:
    zone = ZoneInfo(timezone)
    day = switch + timedelta(days=day_offset)
    midnight = datetime.combine(day, time(0, 0), tzinfo=zone)
    fire = DailyAt(time(8, 0), timezone).next_after(midnight)
    offset = offset_before if day_offset < 0 else offset_after
    assert fire == datetime.combine(day, time(8, 0), tzinfo=UTC) - timedelta(hours=offset)
    assert fire.tzinfo is UTC
    assert fire.astimezone(zone).time() == time(8, 0)


@pytest.mark.parametrize(("timezone", "switch", "offset_before", "offset_after"), DST_SWITCHES)
def test_daily_at_steps_from_one_morning_to_the_next_across_dst(
    timezone: str, switch: date, offset_before: int, offset_after: int
) -> None:
    schedule = DailyAt(time(8, 0), timezone)
    eve = datetime.combine(switch - timedelta(days=1), time(8, 0), tzinfo=ZoneInfo(timezone))
    fire = schedule.next_after(eve)
    assert fire - eve == timedelta(hours=24 - (offset_after - offset_before))
    assert schedule.next_after(fire) - fire == timedelta(hours=24)


@pytest.mark.parametrize(
    ("timezone", "switch", "expected_utc"),
    [
        (NEW_YORK, date(2024, 3, 10), datetime(2024, 3, 10, 7, 0, tzinfo=UTC)),  # 03:00 EDT
        (BERLIN, date(2024, 3, 31), datetime(2024, 3, 31, 1, 0, tzinfo=UTC)),  # 03:00 CEST
    ],
)
def test_a_time_inside_the_spring_forward_gap_runs_when_the_gap_ends(
    timezone: str, switch: date, expected_utc: datetime
) -> None:
    zone = ZoneInfo(timezone)
    schedule = DailyAt(time(2, 30), timezone)
    before = datetime.combine(switch, time(0, 0), tzinfo=zone)
    fire = schedule.next_after(before)
    assert fire == expected_utc
    assert fire.astimezone(zone).time() == time(3, 0)
    following = schedule.next_after(fire)
    assert following.astimezone(zone) == datetime.combine(switch + timedelta(days=1), time(2, 30), tzinfo=zone)


def test_a_time_repeated_by_fall_back_runs_once() -> None:
    zone = ZoneInfo(NEW_YORK)
    schedule = DailyAt(time(1, 30), NEW_YORK)
    first = schedule.next_after(datetime(2024, 11, 3, 0, 0, tzinfo=zone))
    assert first == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first of the two
    assert schedule.next_after(first).astimezone(zone) == datetime(2024, 11, 4, 1, 30, tzinfo=zone)


# Wednesday 6 March 2024, 10:00 in New York.
WEDNESDAY_MORNING = datetime(2024, 3, 6, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected_local"),
    [
        ("two hours", datetime(2024, 3, 6, 12, 0)),
        ("for 30 minutes", datetime(2024, 3, 6, 10, 30)),
        ("an hour and a half", datetime(2024, 3, 6, 11, 30)),
        ("until tomorrow morning", datetime(2024, 3, 7, 8, 0)),
        ("tomorrow morning", datetime(2024, 3, 7, 8, 0)),
        ("tomorrow", datetime(2024, 3, 7, 8, 0)),
        ("until tomorrow evening", datetime(2024, 3, 7, 19, 0)),
        ("tomorrow at 9:30am", datetime(2024, 3, 7, 9, 30)),
        ("until tonight", datetime(2024, 3, 6, 19, 0)),
        ("tonight", datetime(2024, 3, 6, 19, 0)),
        ("until 5pm", datetime(2024, 3, 6, 17, 0)),
        ("until 17:00", datetime(2024, 3, 6, 17, 0)),
        ("until 9am", datetime(2024, 3, 7, 9, 0)),
        ("until noon", datetime(2024, 3, 6, 12, 0)),
        ("until monday", datetime(2024, 3, 11, 8, 0)),  # after the spring-forward weekend
        ("next Friday", datetime(2024, 3, 8, 8, 0)),
        ("until wednesday", datetime(2024, 3, 13, 8, 0)),  # today is Wednesday: next week's
    ],
)
def test_parse_until(text: str, expected_local: datetime) -> None:
    until = parse_until(text, WEDNESDAY_MORNING, NEW_YORK)
    assert until == expected_local.replace(tzinfo=ZoneInfo(NEW_YORK))
    assert until.tzinfo is UTC


def test_until_tonight_after_the_evening_means_tomorrow_evening() -> None:
    late = datetime(2024, 3, 6, 21, 0, tzinfo=ZoneInfo(NEW_YORK))
    assert parse_until("until tonight", late, NEW_YORK) == datetime(2024, 3, 7, 19, 0, tzinfo=ZoneInfo(NEW_YORK))


def test_until_tomorrow_morning_across_spring_forward() -> None:
    saturday = datetime(2024, 3, 30, 22, 0, tzinfo=ZoneInfo(BERLIN))
    until = parse_until("until tomorrow morning", saturday, BERLIN)
    assert until == datetime(2024, 3, 31, 6, 0, tzinfo=UTC)  # 08:00 CEST


def test_a_snooze_lasts_real_time_across_fall_back() -> None:
    before_fall_back = datetime(2024, 11, 3, 0, 30, tzinfo=ZoneInfo(NEW_YORK))  # EDT
    assert parse_until("two hours", before_fall_back, NEW_YORK) == datetime(2024, 11, 3, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize("text", ["banana", "until banana", "until 25:00", "until tomorrow at lunch", "-5 minutes"])
def test_parse_until_rejects(text: str) -> None:
    with pytest.raises(ScheduleError) as error:
        parse_until(text, WEDNESDAY_MORNING, NEW_YORK)
    examples = "'two hours', 'until tomorrow morning' or 'until 5pm'"
    expected = f"'{text}' is not a time or duration; say for example {examples}"
    assert str(error.value) == expected


def test_parse_until_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_until("two hours", datetime(2024, 3, 6, 10, 0), NEW_YORK)
