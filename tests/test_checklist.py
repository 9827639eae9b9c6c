"""HEARTBEAT.md: reading it, writing it back unchanged, and saying exactly where it is wrong."""

from __future__ import annotations

from datetime import time

import pytest

from heartbeat_mcp.checklist import (
    Checklist,
    ChecklistError,
    ChecklistGroup,
    ChecklistItem,
    parse_checklist,
    render_checklist,
    validate_checklist,
)
from heartbeat_mcp.schedule import DailyAt, Every

EXAMPLE = """\
# HEARTBEAT.md — what the heartbeat watches

Any prose here (the preamble) is kept verbatim and ignored by the parser.

## Portfolio monitoring (every 5 minutes)
- [x] Flag stale properties with no activity past their stage's threshold `stale_properties`
- [ ] Warn about contract deadlines `contract_deadlines` (every 10 minutes)
- [x] Slow check `some_check` (every hour, timeout 120s)

## Daily digest (08:00 every day)
- [x] Send the morning briefing `daily_digest`
"""

# Hand-written: notes in several places, odd spacing, a commented-out item,
# options in non-canonical spellings, and a format example in the preamble.
HAND_WRITTEN = """\

# HEARTBEAT.md

The heartbeat reads this file. An item looks like this:

```
## Example (every hour)
- [x] An example `not_a_check`
```

## Portfolio monitoring (Every ten minutes)
> Stages have their own thresholds; see the settings.

- [x]   Flag stale properties `stale_properties`   (every 15 min, timeout 2 minutes)
- [X] `contract_deadlines` warns about deadlines
Plain text under the items.
<!-- switched off while the MLS feed is down:
- [x] Check listings `listing_sync`

-->
- [ ] Slow check `some_check` (timeout 1.5s)

## Quiet group (hourly)

## Daily digest (daily at 8am)
<!-- one-line comment -->
- [x] Send the morning briefing `daily_digest` (timeout 90)
"""


def test_parse_example() -> None:
    checklist = parse_checklist(EXAMPLE, timezone="Europe/Berlin")
    assert checklist.preamble == (
        "# HEARTBEAT.md — what the heartbeat watches\n\n"
        "Any prose here (the preamble) is kept verbatim and ignored by the parser."
    )
    portfolio, digest = checklist.groups
    assert (portfolio.name, portfolio.schedule, portfolio.line) == ("Portfolio monitoring", Every(300), 5)
    assert portfolio.items == (
        ChecklistItem("stale_properties", True, "Flag stale properties with no activity past their stage's threshold"),
        ChecklistItem("contract_deadlines", False, "Warn about contract deadlines", Every(600)),
        ChecklistItem("some_check", True, "Slow check", Every(3600), 120.0),
    )
    assert [item.line for item in portfolio.items] == [6, 7, 8]
    assert digest.schedule == DailyAt(time(8, 0), "Europe/Berlin")
    assert digest.items[0].task == "daily_digest"


def test_the_canonical_example_renders_unchanged() -> None:
    assert render_checklist(parse_checklist(EXAMPLE)) == EXAMPLE


def test_items_and_find_give_the_effective_schedule() -> None:
    checklist = parse_checklist(EXAMPLE)
    assert [entry.item.task for entry in checklist.items()] == [
        "stale_properties",
        "contract_deadlines",
        "some_check",
        "daily_digest",
    ]
    stale = checklist.find("stale_properties")
    assert stale is not None and stale.group.name == "Portfolio monitoring"
    assert stale.schedule == Every(300)
    deadlines = checklist.find("contract_deadlines")
    assert deadlines is not None and deadlines.schedule == Every(600)
    assert checklist.find("nothing_here") is None


def test_hand_written_file() -> None:
    checklist = parse_checklist(HAND_WRITTEN)
    assert "- [x] An example `not_a_check`" in checklist.preamble
    assert checklist.preamble.startswith("# HEARTBEAT.md")
    portfolio, quiet, digest = checklist.groups
    assert portfolio.schedule == Every(600)
    assert portfolio.notes == (
        "> Stages have their own thresholds; see the settings.",
        "Plain text under the items.",
        "<!-- switched off while the MLS feed is down:",
        "- [x] Check listings `listing_sync`",
        "",
        "-->",
    )
    assert portfolio.items == (
        ChecklistItem("stale_properties", True, "Flag stale properties", Every(900), 120.0),
        ChecklistItem("contract_deadlines", True, "warns about deadlines"),
        ChecklistItem("some_check", False, "Slow check", None, 1.5),
    )
    assert (quiet.schedule, quiet.items, quiet.notes) == (Every(3600), (), ())
    assert digest.notes == ("<!-- one-line comment -->",)
    assert digest.items == (ChecklistItem("daily_digest", True, "Send the morning briefing", None, 90.0),)
    assert checklist.find("listing_sync") is None


def test_hand_written_file_renders_canonically() -> None:
    rendered = render_checklist(parse_checklist(HAND_WRITTEN))
    assert "## Portfolio monitoring (every 10 minutes)" in rendered
    assert "- [x] Flag stale properties `stale_properties` (every 15 minutes, timeout 120s)" in rendered
    assert "- [x] warns about deadlines `contract_deadlines`" in rendered
    assert "- [ ] Slow check `some_check` (timeout 1.5s)" in rendered
    assert "## Daily digest (08:00 every day)" in rendered


@pytest.mark.parametrize("text", [EXAMPLE, HAND_WRITTEN, "", "Only a preamble.\n", "## Empty (every minute)\n"])
def test_round_trip(text: str) -> None:
    checklist = parse_checklist(text, timezone="America/New_York")
    rendered = render_checklist(checklist)
    assert parse_checklist(rendered, timezone="America/New_York") == checklist
    assert render_checklist(parse_checklist(rendered, timezone="America/New_York")) == rendered


def test_a_checklist_built_in_code_round_trips() -> None:
    checklist = Checklist(
        preamble="# HEARTBEAT.md",
        groups=(
            ChecklistGroup(
                "Portfolio monitoring",
                Every(300),
                items=(
                    ChecklistItem("stale_properties", True, "Flag stale properties"),
                    ChecklistItem("contract_deadlines", False, "", Every(5400), 45.0),
                ),
                notes=("> Set up by voice.",),
            ),
            ChecklistGroup("Evening", DailyAt(time(19, 30), "UTC")),
        ),
    )
    rendered = render_checklist(checklist)
    assert rendered == (
        "# HEARTBEAT.md\n\n"
        "## Portfolio monitoring (every 5 minutes)\n"
        "> Set up by voice.\n"
        "- [x] Flag stale properties `stale_properties`\n"
        "- [ ] `contract_deadlines` (every 1 hour 30 minutes, timeout 45s)\n\n"
        "## Evening (19:30 every day)\n"
    )
    assert parse_checklist(rendered) == checklist


def test_line_numbers_do_not_affect_equality() -> None:
    moved = parse_checklist("\n\n\n" + EXAMPLE)
    assert moved == parse_checklist(EXAMPLE)
    assert moved.groups[0].line == 8


def _error(text: str) -> ChecklistError:
    with pytest.raises(ChecklistError) as error:
        parse_checklist(text)
    return error.value


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("# Title\n\n## Portfolio monitoring\n", 3, "heading has no schedule"),
        ("## Portfolio monitoring (every banana)\n", 1, "the schedule 'every banana' is not understood"),
        ("## Portfolio monitoring ()\n", 1, "the schedule '' is not understood"),
        ("## (every hour)\n", 1, "heading has no group name"),
        ("# Title\n- [x] Too early `stale_properties`\n## Group (hourly)\n", 2, "item comes before any group heading"),
        ("## G (hourly)\n- [x] a `a`\n- [v] b `b`\n", 3, "the checkbox [v] is neither [x] nor [ ]"),
        ("## G (hourly)\n- [] b `b`\n", 2, "the checkbox [] is neither [x] nor [ ]"),
        ("## G (hourly)\n\n- stale properties `stale_properties`\n", 3, "item has no checkbox"),
        ("## G (hourly)\n- [x] a `a`\n\n\n- [x] stale properties\n", 5, "item has no check name in backticks"),
        ("## G (hourly)\n- [x] both `a` and `b`\n", 2, "item names more than one check (`a`, `b`)"),
        ("## G (hourly)\n- [x] bad `Stale-Properties`\n", 2, "`Stale-Properties` is not a check name"),
        ("## G (hourly)\n- [x] a `a` (every banana)\n", 2, "the option 'every banana' is not understood"),
        ("## G (hourly)\n- [x] a `a` (timeout soon)\n", 2, "the option 'timeout soon' is not understood"),
        ("## G (hourly)\n- [x] a `a` (hourly, )\n", 2, "the option '' is not understood"),
        ("## G (hourly)\n- [x] a `a` (hourly, every minute)\n", 2, "the options 'hourly, every minute' give two"),
        ("## G (hourly)\n- [x] a `a` (timeout 1s, timeout 2s)\n", 2, "the options 'timeout 1s, timeout 2s' give two"),
        ("# T\n```\n## Example (hourly)\n\n## Real (hourly)\n", 2, "this block is never closed"),
        ("## G (hourly)\n- [x] a `a`\n<!-- off for now\n- [x] b `b`\n", 3, "this block is never closed"),
    ],
)
def test_malformed_files_name_the_line(text: str, line: int, problem: str) -> None:
    error = _error(text)
    assert error.line == line
    assert error.problem.startswith(problem)
    assert error.source == "HEARTBEAT.md"
    assert str(error).startswith(f"HEARTBEAT.md line {line}: {problem}")
    assert ". Fix: " in str(error) and "\n" not in str(error)


def test_error_reads_as_one_line() -> None:
    text = "## G (hourly)\n" + "- [x] fine `a`\n" * 10 + "- [x] Flag stale properties\n"
    error = _error(text)
    assert str(error) == (
        "HEARTBEAT.md line 12: item has no check name in backticks. Fix: name the check like `stale_properties`."
    )


def test_error_names_the_source() -> None:
    with pytest.raises(ChecklistError, match=r"^/etc/heartbeat/HEARTBEAT\.md line 1: "):
        parse_checklist("## Broken\n", source="/etc/heartbeat/HEARTBEAT.md")


def test_schedule_error_quotes_the_schedule_and_gives_examples() -> None:
    error = _error("## Digest (every morning)\n")
    assert error.fix == "write a schedule like 'every 10 minutes' or '08:00 every day'"


def test_prose_bullets_are_fine_in_the_preamble() -> None:
    checklist = parse_checklist("# HEARTBEAT.md\n- a note\n- [link](https://example.com)\n")
    assert checklist.preamble == "# HEARTBEAT.md\n- a note\n- [link](https://example.com)"
    assert checklist.groups == ()


def test_parenthesis_before_the_check_name_is_text() -> None:
    (item,) = parse_checklist("## G (hourly)\n- [x] Deadlines (closing only) `contract_deadlines`\n").groups[0].items
    assert (item.text, item.schedule) == ("Deadlines (closing only)", None)


def test_daily_times_use_the_given_time_zone() -> None:
    checklist = parse_checklist(EXAMPLE, timezone="America/New_York")
    assert checklist.groups[1].schedule == DailyAt(time(8, 0), "America/New_York")


KNOWN = ["stale_properties", "contract_deadlines", "some_check", "daily_digest"]


def test_validate_accepts_known_checks() -> None:
    validate_checklist(parse_checklist(EXAMPLE), KNOWN)


def test_validate_suggests_the_closest_name_for_a_typo() -> None:
    checklist = parse_checklist(EXAMPLE.replace("`stale_properties`", "`stale_propertys`"))
    with pytest.raises(ChecklistError) as error:
        validate_checklist(checklist, KNOWN)
    assert error.value.line == 6
    assert error.value.problem == "there is no check called `stale_propertys`"
    assert error.value.fix == "rename it to `stale_properties`"
    assert str(error.value) == (
        "HEARTBEAT.md line 6: there is no check called `stale_propertys`. Fix: rename it to `stale_properties`."
    )


def test_validate_lists_known_checks_when_nothing_is_close() -> None:
    checklist = parse_checklist("## G (hourly)\n- [x] `zzz`\n")
    with pytest.raises(ChecklistError) as error:
        validate_checklist(checklist, iter(KNOWN), source="custom.md")
    assert str(error.value) == (
        "custom.md line 2: there is no check called `zzz`. Fix: use one of the installed checks: "
        "`contract_deadlines`, `daily_digest`, `some_check`, `stale_properties`."
    )


def test_validate_without_any_checks_installed() -> None:
    with pytest.raises(ChecklistError, match="Fix: install a check pack or remove this item"):
        validate_checklist(parse_checklist(EXAMPLE), [])


def test_validate_rejects_a_check_listed_twice() -> None:
    text = EXAMPLE + "\n## Again (every minute)\n- [ ] Once more `some_check`\n"
    with pytest.raises(ChecklistError) as error:
        validate_checklist(parse_checklist(text), KNOWN)
    assert error.value.line == 14
    assert error.value.problem == "the check `some_check` is listed twice (first on line 8)"


def test_an_error_without_a_line_leaves_the_line_out() -> None:
    checklist = Checklist(groups=(ChecklistGroup("G", Every(60), items=(ChecklistItem("nope", True, ""),)),))
    with pytest.raises(ChecklistError, match=r"^HEARTBEAT\.md: there is no check called `nope`"):
        validate_checklist(checklist, KNOWN)
