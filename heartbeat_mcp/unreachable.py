"""Why a network call got no answer, in words that are safe to show.

An exception's own text may quote the URL it failed on, and URLs carry keys
(in the query or the user part), so failures are described only by their
kind: "its host name does not resolve", "it refused the connection".
"""

from __future__ import annotations

import socket
from collections.abc import Iterator


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and the members of exception groups."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend([current.__cause__, current.__context__, *getattr(current, "exceptions", ())])


def why_unreachable(exc: BaseException, timeout_seconds: float) -> str:
    """Why a connection failed, as the end of a spoken sentence; never the exception's text."""
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return "its host name does not resolve"
        if isinstance(cause, ConnectionRefusedError):
            return "it refused the connection"
        if isinstance(cause, TimeoutError) or type(cause).__name__.endswith("Timeout"):
            return f"it did not answer within {timeout_seconds:g} seconds"
    return f"it could not be reached ({type(exc).__name__})"
