"""Everything the server says out loud, and every error it hands back.

Answers are read to an agent who is driving, so each one is built here by
`say`: at most two sentences and 40 words, no markdown or JSON, names rather
than ids, numbers the way people say them ("about 2 seconds", "3:15 PM").
Errors go through `spoken_errors`, so a bad phrase, an out-of-range interval
or an unexpected crash all come back as a sentence the assistant can repeat,
never a traceback.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from heartbeat_mcp.engine import ConfigurationError
from heartbeat_mcp.registry import Target, TargetError, spoken_task
from heartbeat_mcp.report import Report, plural
from heartbeat_mcp.schedule import ScheduleError, speak_duration

log = logging.getLogger("heartbeat_mcp.server")

MAX_SENTENCES = 2
MAX_WORDS = 40
DATABASE_DOWN = "The heartbeat can't reach its database right now. It keeps retrying; ask again in a minute."
CRASHED = "Something went wrong on my side and the request did not complete. The heartbeat keeps running; try again in a minute."

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[A-Z0-9'\"])")
_MARKUP = re.compile(r"[*_#`|>\[\]{}]")

P = ParamSpec("P")
R = TypeVar("R")


def say(*parts: str) -> str:
    """One speakable answer: the first two sentences of `parts`, within 40 words.

    A first sentence too long is clipped; a second one that does not fit is
    left out, since half a second sentence tells less than none.
    """
    sentences = [
        _finish(sentence)
        for part in parts
        for sentence in _SENTENCE_END.split(re.sub(r"\s+", " ", _MARKUP.sub(" ", part or "")).strip())
        if sentence
    ][:MAX_SENTENCES]
    kept: list[str] = []
    budget = MAX_WORDS
    for sentence in sentences:
        words = sentence.split()
        if len(words) > budget:
            if not kept:
                kept.append(" ".join(words[:budget]).rstrip(",;:") + "…")
            break
        kept.append(sentence)
        budget -= len(words)
    return " ".join(kept)


def first_sentence(text: str) -> str:
    """The lead of a longer message (an item's text may run to several sentences)."""
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0]


def _finish(sentence: str) -> str:
    sentence = sentence.strip()
    sentence = sentence[:1].upper() + sentence[1:]
    return sentence if sentence.endswith((".", "!", "?", "…")) else sentence + "."


def about(seconds: float) -> str:
    """'about 2 seconds', 'under a second': durations the way people round them."""
    if seconds < 1:
        return "under a second"
    return f"about {speak_duration(seconds)}"


def ago(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    return "just now" if seconds < 5 else f"{about(seconds)} ago"


def from_now(moment: datetime, now: datetime) -> str:
    seconds = (moment - now).total_seconds()
    return "any moment now" if seconds < 5 else f"in {about(seconds)}"


def clock_time(moment: datetime, now: datetime, timezone: str) -> str:
    """'3:15 PM', 'tomorrow at 8 AM', 'Monday at 8 AM' in the agent's time zone."""
    zone = ZoneInfo(timezone)
    local, today = moment.astimezone(zone), now.astimezone(zone).date()
    hour = local.hour % 12 or 12
    time_ = f"{hour} {'AM' if local.hour < 12 else 'PM'}" if local.minute == 0 else f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
    days = (local.date() - today).days
    if days == 0:
        return time_
    if days == 1:
        return f"tomorrow at {time_}"
    if 1 < days < 7:
        return f"{local:%A} at {time_}"
    return f"{local:%B} {local.day} at {time_}"


def subject(target: Target) -> tuple[str, bool]:
    """How to name a target at the start of a sentence, and whether it takes a plural verb."""
    if target.kind == "engine":
        return "the heartbeat", False
    if target.kind == "group":
        return target.spoken, True
    return f"the {spoken_task(target.name)} check", False


def task_names(names: list[str], limit: int = 2) -> str:
    """'stale listings and open houses', or 'a, b and 3 others' for long lists."""
    spoken = [spoken_task(n) for n in names]
    if len(spoken) <= limit:
        return " and ".join([", ".join(spoken[:-1]), spoken[-1]] if len(spoken) > 1 else spoken)
    return f"{', '.join(spoken[:limit])} and {plural(len(spoken) - limit, 'other')}"


def items_sentence(report: Report, *, qualifier: str = "") -> str:
    """The count, how many are urgent or high, and the top item: how every briefing starts."""
    top = report.action_items[0].message if report.action_items else ""
    return counted_items(report.action_item_counts, top, fresh=report.new_since_last_asked, qualifier=qualifier)


def counted_items(counts: Mapping[str, int], top: str, *, fresh: int | None = None, qualifier: str = "") -> str:
    """`items_sentence` from its parts, for the status, which keeps the counts and the top item alone."""
    total = sum(counts.values())
    noun = f"{qualifier} item" if qualifier else "item"
    if total == 0:
        return f"No {noun}s need attention."
    pressing = counts.get("urgent", 0) + counts.get("high", 0)
    lead = f"{plural(total, noun)} {'needs' if total == 1 else 'need'} attention"
    if 0 < pressing < total:
        lead += f", {pressing} urgent or high"
    if fresh is not None:  # the agent has heard the report before: say what changed since
        lead += f", {fresh or 'none'} new since you last asked"
    return f"{lead}; the top one: {first_sentence(top)}" if top else f"{lead}."


def spoken_validation(error: ValidationError) -> str:
    """An argument the schema refused, said so the assistant can ask again.

    Pydantic's own text names types, error codes and a web address; only the
    first problem is said, since the assistant asks one question at a time.
    """
    first = error.errors()[0]
    field = str(first["loc"][0]).replace("_", " ") if first["loc"] else "request"
    kind, message = first["type"], first["msg"]
    if kind == "string_too_long":
        return say(f"The {field} is too long; say it in a few words.")
    if kind.startswith("bool"):
        return say(f"The {field} setting should be true or false.")
    if message.startswith("Input should be "):
        expected = message.removeprefix("Input should be ").replace("'", "")  # 'low', 'medium' -> low, medium
        return say(f"The {field} should be {expected}.")
    return say(f"The {field} could not be used: {message[:1].lower()}{message[1:]}.")


def spoken_errors(tool: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn whatever a tool raises into a ToolError the assistant can read out.

    Engine and parser errors already speak (they carry the closest task names
    or an example of what to say); a database outage and an unexpected crash
    get a fixed sentence, and the crash is logged with its traceback here.
    """

    @functools.wraps(tool)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await tool(*args, **kwargs)
        except ToolError:
            raise
        except (TargetError, ConfigurationError, ScheduleError) as exc:
            raise ToolError(say(str(exc))) from None
        except DBAPIError as exc:
            log.warning("%s: database error: %s", tool.__name__, type(exc.orig or exc).__name__)
            raise ToolError(DATABASE_DOWN) from None
        except Exception:
            log.exception("%s failed unexpectedly", tool.__name__)
            raise ToolError(CRASHED) from None

    return wrapper

