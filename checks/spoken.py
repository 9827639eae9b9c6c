"""How the checks say numbers, prices and ages: the way an agent would say them aloud.

Messages are read to an agent who is driving, so "1.25 million dollars",
"down 12 percent" and "9 days" rather than 1250000.0, -0.1234 and 9.
"""

from __future__ import annotations

import math
from datetime import timedelta


def spoken_price(amount: float) -> str:
    """A price as an agent says it: "1.25 million dollars", "368.5 thousand dollars"."""
    if abs(amount) >= 1_000_000:
        return f"{_trim(round(amount / 1_000_000, 2))} million dollars"
    if abs(amount) >= 1_000:
        return f"{_trim(round(amount / 1_000, 1))} thousand dollars"
    return f"{_trim(round(amount))} dollars"


def spoken_percent(fraction: float) -> str:
    """A relative change as a whole percentage; a sliver is "less than 1 percent"."""
    points = round(abs(fraction) * 100)
    return f"{points} percent" if points >= 1 else "less than 1 percent"


def spoken_number(number: float) -> str:
    """A count or average as said aloud: whole from 10 up, else to one decimal ("2.5")."""
    return _trim(round(number) if abs(number) >= 10 else round(number, 1))


def spoken_days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def spoken_age(age: timedelta) -> str:
    """How long ago, in hours under two days and in days beyond."""
    hours = math.floor(age.total_seconds() / 3600)
    if hours < 1:
        return "less than an hour"
    if hours < 48:
        return "1 hour" if hours == 1 else f"{hours} hours"
    return spoken_days(age.days)


def _trim(number: float) -> str:
    return f"{number:,.2f}".rstrip("0").rstrip(".") if number != int(number) else f"{int(number):,}"
