"""Sending notifications: an outbox drained by a dispatcher that never holds up a cycle.

Runs record notifications and one delivery row per channel in their own
transaction (see `alerts`). The dispatcher, a loop of its own beside the
engine's, claims due deliveries with a lease — like the engine claims tasks —
so of several replicas exactly one sends each delivery; sends them with a
timeout; and records every attempt. A failed send is retried with growing
pauses (5 s, 10 s, 20 s … at most 15 minutes) and is never dropped: a
webhook that is down for a day gets everything when it comes back. Only the
MCP channel, which reaches the clients connected at the time, lets go of what
it could not deliver within `MCP_MAX_AGE`.

Deliveries held by quiet hours become due together when the window ends and
go out as one summary per channel.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import anyio
from anyio.abc import TaskStatus
from pydantic import SecretStr
from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from heartbeat_mcp import __version__
from heartbeat_mcp.alerts import MCP_CHANNEL_PREFIX, WEBHOOK
from heartbeat_mcp.clock import Clock
from heartbeat_mcp.database import Database
from heartbeat_mcp.httpclient import http_client
from heartbeat_mcp.models import Delivery, DeliveryAttempt, OutboxNotification
from heartbeat_mcp.report import clip, plural
from heartbeat_mcp.task import Priority
from heartbeat_mcp.unreachable import why_unreachable

log = logging.getLogger("heartbeat_mcp.delivery")

QUIET_HOURS_SUMMARY = "HEARTBEAT_QUIET_HOURS_SUMMARY"
RETRY_FIRST_SECONDS = 5.0
RETRY_CAP_SECONDS = 15 * 60.0
MCP_MAX_AGE = timedelta(minutes=15)
WEBHOOK_TIMEOUT_SECONDS = 5.0
BATCH = 200
IDLE_SECONDS = 60.0


class DeliveryFailed(Exception):
    """A send that did not arrive; the message is safe to record and show (no URL, no key)."""


@dataclass(frozen=True)
class Message:
    """What one send carries: a notification, or the summary of those held by quiet hours."""

    key: str  # stable across retries: receivers use it to drop a duplicate
    priority: str
    text: str
    payload: dict[str, Any]


class Channel(Protocol):
    name: str

    async def send(self, message: Message) -> str:
        """Deliver or raise DeliveryFailed; returns a short detail to record ("HTTP 204")."""


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    channel: str
    attempts: int
    notification_id: int
    kind: str
    priority: str
    title: str
    message: str
    data: dict[str, Any]
    created_at: datetime
    held: bool

    def payload(self) -> dict[str, Any]:
        return {"id": self.notification_id, "type": self.kind, "priority": self.priority, "title": self.title,
                "message": self.message, "data": self.data, "created_at": self.created_at.isoformat()}


def _single(claimed: _Claimed) -> Message:
    return Message(f"heartbeat-{claimed.notification_id}", claimed.priority, claimed.message,
                   {"source": "heartbeat-mcp", **claimed.payload()})


def _summary(held: Sequence[_Claimed]) -> Message:
    """One message for everything quiet hours held back, most urgent first."""
    ordered = sorted(held, key=lambda c: (-Priority(c.priority).rank, c.notification_id))
    top = ordered[0]
    text = (f"While quiet hours were on, {plural(len(held), 'notification')} came in. "
            f"The most pressing: {clip(top.message, 30)}")
    first, last = min(c.notification_id for c in held), max(c.notification_id for c in held)
    return Message(f"heartbeat-summary-{first}-{last}", top.priority, text, {
        "source": "heartbeat-mcp", "id": f"summary-{first}-{last}", "type": QUIET_HOURS_SUMMARY,
        "priority": top.priority, "title": "While quiet hours were on", "message": text,
        "notifications": [c.payload() for c in ordered],
    })


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones."""
    return min(RETRY_FIRST_SECONDS * 2 ** (attempts - 1), RETRY_CAP_SECONDS)


@dataclass
class Round:
    """What one pass of the dispatcher did."""

    delivered: int = 0
    failed: int = 0
    expired: int = 0
    lost: int = 0  # sent, but another replica took the lease before we could record it
    sends: list[tuple[str, str, bool]] = field(default_factory=list)  # (channel, key, ok)


class WebhookChannel:
    """POSTs each message as JSON to HEARTBEAT_WEBHOOK_URL with an Idempotency-Key header.

    Any 2xx is delivered; anything else, or no answer within the timeout, is
    a failure to retry. The URL is never logged or recorded: it may carry a key.
    """

    name = WEBHOOK

    def __init__(self, url: SecretStr, timeout_seconds: float = WEBHOOK_TIMEOUT_SECONDS) -> None:
        self._url = url
        self.timeout_seconds = timeout_seconds

    async def send(self, message: Message) -> str:
        headers = {"Idempotency-Key": message.key, "User-Agent": f"heartbeat-mcp/{__version__}"}
        try:
            with anyio.fail_after(self.timeout_seconds):
                async with await http_client(self.timeout_seconds) as client:
                    response = await client.post(self._url.get_secret_value(), json=message.payload, headers=headers)
        except Exception as exc:  # noqa: BLE001 - every way of getting no answer is a failed attempt
            raise DeliveryFailed(why_unreachable(exc, self.timeout_seconds)) from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"it answered HTTP {response.status_code}")
        return f"HTTP {response.status_code}"


class Dispatcher:
    def __init__(self, database: Database, clock: Clock, replica_id: str, *, lease_seconds: float = 60.0,
                 max_concurrency: int = 4) -> None:
        self.database = database
        self.clock = clock
        self.replica_id = replica_id
        self.channels: dict[str, Channel] = {}
        self.lease = timedelta(seconds=lease_seconds)
        self._limiter = anyio.CapacityLimiter(max_concurrency)
        self._wake = anyio.Event()

    def add(self, channel: Channel) -> None:
        self.channels[channel.name] = channel
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Deliver whatever is due, then sleep until the next retry or hold ends, or until woken."""
        task_status.started()
        while True:
            wake, began = self._wake, self.clock.now()
            next_at: datetime | None = None
            try:
                await self.deliver_due()
                next_at = await self.database.run(self._next_due)
            except Exception:  # noqa: BLE001 - a database outage or a bug: try again shortly, never stop
                log.exception("delivering notifications failed; retrying")
            # Counted from when the pass began, as the engine's loop counts its ticks.
            fallback = began + timedelta(seconds=IDLE_SECONDS)
            await self.clock.sleep_until(min(next_at, fallback) if next_at else fallback, wake)
            if wake.is_set():
                self._wake = anyio.Event()

    async def deliver_due(self) -> Round:
        """One pass: claim what is due for our channels, send it, record every attempt."""
        done = Round()
        if not self.channels:
            return done
        token = f"{self.replica_id}/{uuid.uuid4().hex[:8]}"
        claimed, done.expired = await self.database.run(self._claim, token, self.clock.now())
        if not claimed:
            return done
        by_channel: dict[str, list[_Claimed]] = {}
        for c in claimed:
            by_channel.setdefault(c.channel, []).append(c)
        outcomes: list[tuple[list[_Claimed], bool, str, float]] = []

        async def send(channel: Channel, deliveries: list[_Claimed], message: Message) -> None:
            started = time.perf_counter()
            async with self._limiter:
                try:
                    ok, detail = True, await channel.send(message)
                except DeliveryFailed as exc:
                    ok, detail = False, str(exc)
                except Exception as exc:  # noqa: BLE001 - a broken channel fails its attempt, nothing more
                    log.exception("channel %s failed unexpectedly", channel.name)
                    ok, detail = False, f"unexpected error ({type(exc).__name__})"
            outcomes.append((deliveries, ok, detail, (time.perf_counter() - started) * 1000))
            done.sends.append((channel.name, message.key, ok))

        async with anyio.create_task_group() as group:
            for name, deliveries in by_channel.items():
                channel = self.channels[name]
                held = [c for c in deliveries if c.held]
                if held:
                    group.start_soon(send, channel, held, _summary(held))
                for c in deliveries:
                    if not c.held:
                        group.start_soon(send, channel, [c], _single(c))
        recorded = await self.database.run(self._record, token, self.clock.now(), outcomes)
        for deliveries, ok, detail, _ in outcomes:
            if ok:
                done.delivered += len(deliveries)
            else:
                done.failed += len(deliveries)
                log.warning("could not deliver %s on %s: %s", plural(len(deliveries), "notification"),
                            deliveries[0].channel, detail)
        done.lost = len(claimed) - recorded
        return done

    # --- SQL -------------------------------------------------------------------------------

    def _claim(self, token: str, now: datetime) -> tuple[list[_Claimed], int]:
        with self.database.transaction() as session:
            expired = self._expire(session, now)
            due = (
                select(Delivery.id)
                .where(Delivery.status == "pending", Delivery.channel.in_(list(self.channels)),
                       Delivery.next_attempt_at <= now,
                       or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
                .order_by(Delivery.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
            leased = set(session.scalars(
                update(Delivery)
                .where(Delivery.id.in_(due.scalar_subquery()),
                       or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
                .values(lease_owner=token, lease_until=now + self.lease)
                .returning(Delivery.id)
                .execution_options(synchronize_session=False)
            ))
            if not leased:
                return [], expired
            n = OutboxNotification
            rows = session.execute(
                select(Delivery.id, Delivery.channel, Delivery.attempts, n.id.label("notification_id"), n.kind,
                       n.priority, n.title, n.message, n.data, n.created_at, n.held_until)
                .join(n, n.id == Delivery.notification_id)
                .where(Delivery.id.in_(leased))
                .order_by(Delivery.id)
            )
            return [
                _Claimed(r.id, r.channel, r.attempts, r.notification_id, r.kind, r.priority, r.title, r.message,
                         r.data or {}, r.created_at, r.held_until is not None)
                for r in rows
            ], expired

    def _expire(self, session: Session, now: datetime) -> int:
        """Let go of MCP deliveries nobody could take in time: those clients have moved on."""
        return session.execute(
            update(Delivery)
            .where(Delivery.status == "pending", Delivery.channel.startswith(MCP_CHANNEL_PREFIX),
                   Delivery.next_attempt_at < now - MCP_MAX_AGE)
            .values(status="expired", lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        ).rowcount or 0

    def _record(self, token: str, now: datetime, outcomes: Sequence[tuple[list[_Claimed], bool, str, float]]) -> int:
        """Every attempt, and each delivery's new state, if we still hold its lease; returns how many we held."""
        delivered = [c.delivery_id for deliveries, ok, _, _ in outcomes if ok for c in deliveries]
        failed = [(c, detail) for deliveries, ok, detail, _ in outcomes if not ok for c in deliveries]
        mine = and_(Delivery.lease_owner == token)
        held = 0
        with self.database.transaction() as session:
            if delivered:
                held += session.execute(
                    update(Delivery).where(Delivery.id.in_(delivered), mine)
                    .values(status="delivered", delivered_at=now, attempts=Delivery.attempts + 1, last_error=None,
                            lease_owner=None, lease_until=None)
                    .execution_options(synchronize_session=False)
                ).rowcount or 0
            for c, detail in failed:
                held += session.execute(
                    update(Delivery).where(Delivery.id == c.delivery_id, mine)
                    .values(attempts=Delivery.attempts + 1, last_error=detail, lease_owner=None, lease_until=None,
                            next_attempt_at=now + timedelta(seconds=retry_delay(c.attempts + 1)))
                    .execution_options(synchronize_session=False)
                ).rowcount or 0
            attempts = [
                {"delivery_id": c.delivery_id, "attempted_at": now, "duration_ms": round(ms, 3), "ok": ok,
                 "detail": detail, "replica": self.replica_id}
                for deliveries, ok, detail, ms in outcomes for c in deliveries
            ]
            if attempts:
                session.execute(insert(DeliveryAttempt), attempts)
        return held

    def _next_due(self) -> datetime | None:
        with self.database.sessions() as session:
            return session.scalar(
                select(func.min(func.coalesce(Delivery.lease_until, Delivery.next_attempt_at)))
                .where(Delivery.status == "pending", Delivery.channel.in_(list(self.channels)))
            )


def delivery_problems(session: Session, *, failing_after: int = 3) -> list[dict[str, Any]]:
    """Channels with deliveries that failed `failing_after` times or more: one statement, one row per channel."""
    stuck = and_(Delivery.status == "pending", Delivery.attempts >= failing_after)
    per_channel = {"partition_by": Delivery.channel}
    ranked = select(
        Delivery.channel, Delivery.last_error,
        func.count().over(**per_channel).label("waiting"),
        func.max(Delivery.attempts).over(**per_channel).label("attempts"),
        func.min(Delivery.created_at).over(**per_channel).label("since"),
        func.row_number().over(**per_channel, order_by=(Delivery.attempts.desc(), Delivery.id)).label("rank"),
    ).where(stuck).subquery()
    rows = session.execute(select(ranked).where(ranked.c.rank == 1).order_by(ranked.c.channel))
    return [{"channel": r.channel, "waiting": int(r.waiting), "attempts": int(r.attempts), "since": r.since,
             "last_error": r.last_error or ""} for r in rows]


__all__ = ["Channel", "DeliveryFailed", "Dispatcher", "Message", "Round", "WebhookChannel", "delivery_problems"]
