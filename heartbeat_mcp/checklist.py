"""HEARTBEAT.md: the heartbeat's configuration as a checklist people can read.

The agent (or whoever sets the system up) edits a Markdown file, and the voice
assistant rewrites it when told to change something, so the file has to be
both forgiving to hand-edit and exactly reproducible by `render_checklist`.
The format:

    # HEARTBEAT.md — what the heartbeat watches

    Prose before the first group heading (the preamble) is kept verbatim.

    ## Portfolio monitoring (every 5 minutes)
    > Notes under a group are kept with the group.
    - [x] Flag stale properties `stale_properties`
    - [ ] Warn about contract deadlines `contract_deadlines` (every 10 minutes, timeout 120s)

A `## Name (schedule)` heading starts a group; each `- [x]` / `- [ ]` line is
one check, named once in backticks, with optional trailing options: a
schedule of its own and/or `timeout <duration>`.

Canonical form, which `render_checklist` writes: the check name comes after
the item's text, options are written `(schedule, timeout Ns)`, and a group's
notes (any other non-blank line in it: `>` quotes, prose, `<!-- -->`
comments, fenced blocks) come directly under its heading, so a note written
between items moves up on the next rewrite; nothing is lost. Blank lines are
only kept in the preamble and inside fenced blocks and comments.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from heartbeat_mcp.schedule import SCHEDULE_EXAMPLES, Schedule, ScheduleError, parse_duration, parse_schedule

__all__ = [
    "Checklist",
    "ChecklistEntry",
    "ChecklistError",
    "ChecklistGroup",
    "ChecklistItem",
    "parse_checklist",
    "render_checklist",
    "validate_checklist",
]

_HEADING = re.compile(r"##\s+(?P<name>.*?)\s*\((?P<schedule>[^()]*)\)")
_ITEM = re.compile(r"-\s+\[(?P<box>[^\]]*)\]\s*(?P<rest>.*)")
_LOOKS_LIKE_ITEM = re.compile(r"-\s+\[.?\]")  # in the preamble: a checkbox item, not a prose bullet
_CHECK_NAME = re.compile(r"[a-z][a-z0-9_]*")
_OPTIONS = re.compile(r"\s*\((?P<options>[^()]*)\)$")
_EXAMPLE_HEADING = "`## Portfolio monitoring (every 5 minutes)`"


class ChecklistError(ValueError):
    """A problem in HEARTBEAT.md, located and with a fix, so it can be read out or logged as one line."""

    def __init__(self, source: str, line: int, problem: str, fix: str) -> None:
        self.source, self.line, self.problem, self.fix = source, line, problem, fix
        where = f"{source} line {line}" if line else source
        super().__init__(f"{where}: {problem}. Fix: {fix}.")


@dataclass(frozen=True)
class ChecklistItem:
    """One check. `schedule` is None when the item follows its group's schedule.

    `text` is the item's words without the backticked check name. `line` is
    where the item was read (0 when built in code); it is left out of
    equality so that a re-rendered file compares equal to the original.
    """

    task: str
    enabled: bool
    text: str
    schedule: Schedule | None = None
    timeout_seconds: float | None = None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ChecklistGroup:
    name: str
    schedule: Schedule
    items: tuple[ChecklistItem, ...] = ()
    notes: tuple[str, ...] = ()
    line: int = field(default=0, compare=False)


class ChecklistEntry(NamedTuple):
    """An item with its group, which supplies the schedule the item does not override."""

    group: ChecklistGroup
    item: ChecklistItem

    @property
    def schedule(self) -> Schedule:
        return self.item.schedule or self.group.schedule


@dataclass(frozen=True)
class Checklist:
    preamble: str = ""
    groups: tuple[ChecklistGroup, ...] = ()

    def items(self) -> tuple[ChecklistEntry, ...]:
        return tuple(ChecklistEntry(group, item) for group in self.groups for item in group.items)

    def find(self, task: str) -> ChecklistEntry | None:
        return next((entry for entry in self.items() if entry.item.task == task), None)


# --- parsing ----------------------------------------------------------------------


@dataclass
class _OpenGroup:
    """A group while its lines are still being read."""

    name: str
    schedule: Schedule
    line: int
    items: list[ChecklistItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def close(self) -> ChecklistGroup:
        return ChecklistGroup(self.name, self.schedule, tuple(self.items), tuple(self.notes), self.line)


def _block_closer(stripped: str) -> str | None:
    """If the line opens a fenced block or an unclosed HTML comment, the text that closes it.

    Lines inside such blocks are prose, even when they look like items or
    headings: that is how an item is commented out or a format example shown.
    """
    if stripped.startswith(("```", "~~~")):
        return stripped[:3]
    if stripped.startswith("<!--") and "-->" not in stripped[4:]:
        return "-->"
    return None


def _closes(closer: str, stripped: str) -> bool:
    # A comment ends wherever `-->` appears; a fence only on a line of its own.
    return closer in stripped if closer == "-->" else stripped.startswith(closer)


class _Problem(Exception):
    """A problem found in one line; `parse_checklist` adds the source and line number."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix


def parse_checklist(text: str, *, source: str = "HEARTBEAT.md", timezone: str = "UTC") -> Checklist:
    """Read HEARTBEAT.md; the first problem found raises `ChecklistError` naming its line."""
    preamble: list[str] = []
    groups: list[_OpenGroup] = []
    block: tuple[str, int] | None = None  # (closer, opening line) inside a fenced block or a multi-line comment
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        stripped = line.strip()
        prose = groups[-1].notes if groups else preamble
        try:
            if block is not None:
                prose.append(line)
                if _closes(block[0], stripped):
                    block = None
            elif (closer := _block_closer(stripped)) is not None:
                block = closer, number
                prose.append(line)
            elif stripped.startswith("##") and not stripped.startswith("###"):
                groups.append(_parse_heading(stripped, number, timezone))
            elif groups and (stripped == "-" or stripped.startswith("- ")):
                groups[-1].items.append(_parse_item(stripped, number, timezone))
            elif not groups and _LOOKS_LIKE_ITEM.match(stripped):
                raise _Problem("item comes before any group heading", f"put a heading like {_EXAMPLE_HEADING} above it")
            elif stripped or not groups:
                prose.append(line)
        except _Problem as problem:
            raise ChecklistError(source, number, problem.problem, problem.fix) from None
    if block is not None:
        # Otherwise everything after it would silently become prose, groups and all.
        raise ChecklistError(source, block[1], "this block is never closed", f"close it with {block[0]}")
    return Checklist("\n".join(preamble).strip("\n"), tuple(group.close() for group in groups))


def _parse_heading(stripped: str, number: int, timezone: str) -> _OpenGroup:
    match = _HEADING.fullmatch(stripped)
    if match is None:
        raise _Problem("heading has no schedule", f"add one in parentheses, like {_EXAMPLE_HEADING}")
    if not match["name"]:
        raise _Problem("heading has no group name", f"name the group, like {_EXAMPLE_HEADING}")
    try:
        schedule = parse_schedule(match["schedule"], timezone)
    except ScheduleError:
        problem = f"the schedule '{match['schedule'].strip()}' is not understood"
        raise _Problem(problem, f"write a schedule like {SCHEDULE_EXAMPLES}") from None
    return _OpenGroup(match["name"], schedule, number)


def _parse_item(stripped: str, number: int, timezone: str) -> ChecklistItem:
    match = _ITEM.fullmatch(stripped)
    if match is None:
        raise _Problem("item has no checkbox", "start it with `- [x]` to enable the check or `- [ ]` to disable it")
    if match["box"] not in ("x", "X", " "):
        problem = f"the checkbox [{match['box']}] is neither [x] nor [ ]"
        raise _Problem(problem, "write [x] to enable the check or [ ] to disable it")
    rest = match["rest"]
    names = list(re.finditer(r"`([^`]*)`", rest))
    if not names:
        raise _Problem("item has no check name in backticks", "name the check like `stale_properties`")
    if len(names) > 1:
        listed = ", ".join(name[0] for name in names)
        raise _Problem(f"item names more than one check ({listed})", "put each check on its own line")
    name = names[0]
    if not _CHECK_NAME.fullmatch(name[1]):
        raise _Problem(
            f"`{name[1]}` is not a check name", "use lowercase letters, digits and underscores, like `stale_properties`"
        )
    schedule: Schedule | None = None
    timeout: float | None = None
    options = _OPTIONS.search(rest, name.end())
    if options:
        schedule, timeout = _parse_options(options["options"], timezone)
        rest = rest[: options.start()]
    text = " ".join((rest[: name.start()] + " " + rest[name.end() :]).split())
    return ChecklistItem(name[1], match["box"] != " ", text, schedule, timeout, number)


_OPTIONS_EXAMPLE = "end the item with a schedule and/or a timeout, like (every 10 minutes, timeout 120s)"


def _parse_options(options: str, timezone: str) -> tuple[Schedule | None, float | None]:
    schedules: list[Schedule] = []
    timeouts: list[float] = []
    for option in map(str.strip, options.split(",")):
        try:
            if option.lower().startswith("timeout"):
                timeouts.append(parse_duration(option[len("timeout") :]).total_seconds())
            else:
                schedules.append(parse_schedule(option, timezone))
        except ScheduleError:
            raise _Problem(f"the option '{option}' is not understood", _OPTIONS_EXAMPLE) from None
    if len(schedules) > 1 or len(timeouts) > 1:
        raise _Problem(f"the options '{options.strip()}' give two schedules or two timeouts", _OPTIONS_EXAMPLE)
    return (schedules[0] if schedules else None), (timeouts[0] if timeouts else None)


# --- rendering --------------------------------------------------------------------


def _render_seconds(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds}s"


def _render_item(item: ChecklistItem) -> str:
    options = [item.schedule.describe()] if item.schedule else []
    if item.timeout_seconds is not None:
        options.append(f"timeout {_render_seconds(item.timeout_seconds)}")
    parts = [f"- [{'x' if item.enabled else ' '}]", item.text, f"`{item.task}`"]
    if options:
        parts.append(f"({', '.join(options)})")
    return " ".join(part for part in parts if part)


def _render_group(group: ChecklistGroup) -> str:
    lines = [f"## {group.name} ({group.schedule.describe()})", *group.notes, *map(_render_item, group.items)]
    return "\n".join(lines)


def render_checklist(checklist: Checklist) -> str:
    """Write the canonical file; parsing it gives back an equal `Checklist`."""
    parts = [checklist.preamble] if checklist.preamble else []
    parts.extend(map(_render_group, checklist.groups))
    return "\n\n".join(parts) + "\n"


# --- validation -------------------------------------------------------------------


def validate_checklist(checklist: Checklist, known_tasks: Iterable[str], *, source: str = "HEARTBEAT.md") -> None:
    """Check the file against the installed checks: parsing alone cannot know the names."""
    known = sorted(set(known_tasks))
    first_seen: dict[str, int] = {}
    for _, item in checklist.items():
        if item.task not in known:
            close = difflib.get_close_matches(item.task, known, n=3)
            if close:
                fix = "rename it to " + " or ".join(f"`{name}`" for name in close)
            elif known:
                fix = "use one of the installed checks: " + ", ".join(f"`{name}`" for name in known)
            else:
                fix = "install a check pack or remove this item"
            raise ChecklistError(source, item.line, f"there is no check called `{item.task}`", fix)
        if item.task in first_seen:
            raise ChecklistError(
                source,
                item.line,
                f"the check `{item.task}` is listed twice (first on line {first_seen[item.task]})",
                "keep only one of the two lines",
            )
        first_seen[item.task] = item.line
