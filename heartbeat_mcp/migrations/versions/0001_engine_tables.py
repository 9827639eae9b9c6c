"""engine tables

Revision ID: 0001_engine
Revises: 
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001_engine'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ('heartbeat',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('heartbeat_action_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=300), nullable=False),
    sa.Column('task_name', sa.String(length=100), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('next_step', sa.Text(), nullable=False),
    sa.Column('affected', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('times_seen', sa.Integer(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('snoozed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_notified_priority', sa.String(length=10), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heartbeat_action_items')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_heartbeat_action_items_fingerprint'))
    )
    with op.batch_alter_table('heartbeat_action_items', schema=None) as batch_op:
        batch_op.create_index('ix_heartbeat_action_items_resolved_priority', ['resolved_at', 'priority'], unique=False)
        batch_op.create_index('ix_heartbeat_action_items_task_resolved', ['task_name', 'resolved_at'], unique=False)

    op.create_table('heartbeat_config',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_name', sa.String(length=100), nullable=False),
    sa.Column('group_name', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('schedule_seconds', sa.Integer(), nullable=False),
    sa.Column('schedule', sa.String(length=100), nullable=False),
    sa.Column('timeout_seconds', sa.Float(), nullable=False),
    sa.Column('override_enabled', sa.Boolean(), nullable=True),
    sa.Column('override_schedule', sa.String(length=100), nullable=True),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.String(length=20), nullable=True),
    sa.Column('last_result', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heartbeat_config')),
    sa.UniqueConstraint('task_name', name=op.f('uq_heartbeat_config_task_name'))
    )
    with op.batch_alter_table('heartbeat_config', schema=None) as batch_op:
        batch_op.create_index('ix_heartbeat_config_due', ['enabled', 'next_run_at'], unique=False)

    op.create_table('heartbeat_engine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('base_interval_seconds', sa.Integer(), nullable=True),
    sa.Column('config_version', sa.BigInteger(), nullable=False),
    sa.Column('checklist_digest', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heartbeat_engine'))
    )
    op.create_table('heartbeat_replicas',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('transports', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heartbeat_replicas'))
    )
    op.create_table('heartbeat_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('task_name', sa.String(length=100), nullable=False),
    sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('replica', sa.String(length=100), nullable=False),
    sa.Column('cycle_id', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heartbeat_runs')),
    sa.UniqueConstraint('task_name', 'scheduled_for', name=op.f('uq_heartbeat_runs_task_name_scheduled_for'))
    )
    with op.batch_alter_table('heartbeat_runs', schema=None) as batch_op:
        batch_op.create_index('ix_heartbeat_runs_started', ['started_at'], unique=False)
        batch_op.create_index('ix_heartbeat_runs_task_started', ['task_name', 'started_at'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('heartbeat_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_heartbeat_runs_task_started')
        batch_op.drop_index('ix_heartbeat_runs_started')

    op.drop_table('heartbeat_runs')
    op.drop_table('heartbeat_replicas')
    op.drop_table('heartbeat_engine')
    with op.batch_alter_table('heartbeat_config', schema=None) as batch_op:
        batch_op.drop_index('ix_heartbeat_config_due')

    op.drop_table('heartbeat_config')
    with op.batch_alter_table('heartbeat_action_items', schema=None) as batch_op:
        batch_op.drop_index('ix_heartbeat_action_items_task_resolved')
        batch_op.drop_index('ix_heartbeat_action_items_resolved_priority')

    op.drop_table('heartbeat_action_items')
    
