"""The engine's own tables: configuration, run history, action items, replicas.

The domain a check pack watches lives in the pack's own tables; these hold
only what any heartbeat needs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from heartbeat_mcp.sqltypes import JSONDocument, UTCDateTime, new_metadata


class EngineBase(DeclarativeBase):
    metadata = new_metadata()


class TaskConfig(EngineBase):
    """One row per task: its effective configuration and schedule state.

    `next_run_at` persists so a restart neither forgets schedules nor runs
    everything at once. `override_*` columns hold run-time changes (voice
    tools); they win over HEARTBEAT.md. `lease_owner`/`lease_until` say which
    replica is running the task and until when its claim holds.
    """

    __tablename__ = "heartbeat_config"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_name: Mapped[str] = mapped_column(String(100), unique=True)
    group_name: Mapped[str] = mapped_column(String(100), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    schedule_seconds: Mapped[int] = mapped_column(Integer, default=300)
    schedule: Mapped[str] = mapped_column(String(100), default="")
    timeout_seconds: Mapped[float] = mapped_column(Float, default=60.0)
    override_enabled: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    override_schedule: Mapped[str | None] = mapped_column(String(100), nullable=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_heartbeat_config_due", "enabled", "next_run_at"),)


class EngineState(EngineBase):
    """Engine-wide switches shared by every replica (one row, id 1).

    `config_version` rises with every change so other replicas notice within
    one tick without re-reading everything.
    """

    __tablename__ = "heartbeat_engine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    base_interval_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    config_version: Mapped[int] = mapped_column(BigInteger, default=0)
    checklist_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # When the agent last asked for the report, so the next answer can say what is new since.
    report_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskRun(EngineBase):
    """History of task runs; one row per task and scheduled slot.

    The unique (task_name, scheduled_for) pair is the database's own proof
    that a period never runs twice, whatever the replicas do.
    """

    __tablename__ = "heartbeat_runs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(100))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    replica: Mapped[str] = mapped_column(String(100))
    cycle_id: Mapped[str | None] = mapped_column(String(40), nullable=True)

    __table_args__ = (
        UniqueConstraint("task_name", "scheduled_for"),
        Index("ix_heartbeat_runs_task_started", "task_name", "started_at"),
        Index("ix_heartbeat_runs_started", "started_at"),
        # The report's "latest cycle" is the cycle of the latest finished run.
        Index("ix_heartbeat_runs_finished", "finished_at"),
    )


class ActionItemRow(EngineBase):
    """A finding tracked across cycles by its fingerprint (task + subject)."""

    __tablename__ = "heartbeat_action_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(300), unique=True)
    task_name: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))
    priority: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    next_step: Mapped[str] = mapped_column(Text, default="")
    affected: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    times_seen: Mapped[int] = mapped_column(Integer, default=1)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_notified_priority: Mapped[str | None] = mapped_column(String(10), nullable=True)

    __table_args__ = (
        Index("ix_heartbeat_action_items_task_resolved", "task_name", "resolved_at"),
        Index("ix_heartbeat_action_items_resolved_priority", "resolved_at", "priority"),
        # Each run rewrites every finding it sees again: room on the page keeps those updates HOT.
        {"postgresql_with": {"fillfactor": 50}},
    )


class Replica(EngineBase):
    """Engines alive on this database, refreshed every tick; for status and health."""

    __tablename__ = "heartbeat_replicas"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    transports: Mapped[str] = mapped_column(String(100), default="")


class OutboxNotification(EngineBase):
    """Something the agent is to be told, written in the transaction of the run that found it.

    `dedupe_key` makes enqueueing idempotent (a check pack forwarding its own
    notifications uses its row id). `held_until` is the end of the quiet
    hours the notification arrived in: held ones go out together as one
    summary. `suppressed` notifications (HEARTBEAT_NOTIFICATIONS_ENABLED=false)
    are kept for the record and delivered nowhere.
    """

    __tablename__ = "heartbeat_notifications"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    priority: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    task_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_heartbeat_notifications_created", "created_at"),)


class Delivery(EngineBase):
    """One notification on one channel: delivered once, retried with backoff until it is.

    Claimed like a task, with a lease, so of several replicas exactly one
    sends it; (notification_id, channel) is unique.
    """

    __tablename__ = "heartbeat_deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("heartbeat_notifications.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(150))
    status: Mapped[str] = mapped_column(String(20))  # pending | delivered | expired
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("notification_id", "channel"),
        Index("ix_heartbeat_deliveries_due", "status", "channel", "next_attempt_at"),
    )


class DeliveryAttempt(EngineBase):
    """Every try at sending a delivery, kept for the operator: when, how long, and what came back."""

    __tablename__ = "heartbeat_delivery_attempts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("heartbeat_deliveries.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float] = mapped_column(Float)
    ok: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text, default="")
    replica: Mapped[str] = mapped_column(String(100))

    __table_args__ = (Index("ix_heartbeat_delivery_attempts_delivery", "delivery_id"),)
