"""notification outbox, deliveries and attempts; when the report was last read; runs by finish time

Revision ID: 0002_notifications
Revises: 0001_engine
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002_notifications'
down_revision: str | Sequence[str] | None = '0001_engine'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('heartbeat_engine', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report_read_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('heartbeat_runs', schema=None) as batch_op:
        batch_op.create_index('ix_heartbeat_runs_finished', ['finished_at'], unique=False)

    op.create_table('heartbeat_notifications',
    sa.Column('id', ID, nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('data', JSON, nullable=False),
    sa.Column('task_name', sa.String(length=100), nullable=True),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('held_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('suppressed', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heartbeat_notifications')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_heartbeat_notifications_dedupe_key'))
    )
    with op.batch_alter_table('heartbeat_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_heartbeat_notifications_created', ['created_at'], unique=False)

    op.create_table('heartbeat_deliveries',
    sa.Column('id', ID, nullable=False),
    sa.Column('notification_id', ID, nullable=False),
    sa.Column('channel', sa.String(length=150), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['notification_id'], ['heartbeat_notifications.id'], name=op.f('fk_heartbeat_deliveries_notification_id_heartbeat_notifications'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heartbeat_deliveries')),
    sa.UniqueConstraint('notification_id', 'channel', name=op.f('uq_heartbeat_deliveries_notification_id_channel'))
    )
    with op.batch_alter_table('heartbeat_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_heartbeat_deliveries_due', ['status', 'channel', 'next_attempt_at'], unique=False)

    op.create_table('heartbeat_delivery_attempts',
    sa.Column('id', ID, nullable=False),
    sa.Column('delivery_id', ID, nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Float(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('replica', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['heartbeat_deliveries.id'], name=op.f('fk_heartbeat_delivery_attempts_delivery_id_heartbeat_deliveries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heartbeat_delivery_attempts'))
    )
    with op.batch_alter_table('heartbeat_delivery_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_heartbeat_delivery_attempts_delivery', ['delivery_id'], unique=False)


def downgrade() -> None:
    op.drop_table('heartbeat_delivery_attempts')
    op.drop_table('heartbeat_deliveries')
    op.drop_table('heartbeat_notifications')
    with op.batch_alter_table('heartbeat_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_heartbeat_runs_finished')
    with op.batch_alter_table('heartbeat_engine', schema=None) as batch_op:
        batch_op.drop_column('report_read_at')
