"""relationship snapshots without a foreign key; note mentions and scored contacts

Revision ID: 0002_realtor
Revises: 0001_realtor
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002_realtor'
down_revision: str | Sequence[str] | None = '0001_realtor'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('relationship_score_snapshots', schema=None) as batch_op:
        batch_op.drop_constraint('fk_relationship_score_snapshots_contact_id_contacts', type_='foreignkey')

    op.create_table('note_mentions',
    sa.Column('note_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('mentioned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('is_response', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['note_id'], ['property_notes.id'], name=op.f('fk_note_mentions_note_id_property_notes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('note_id', 'contact_id', name=op.f('pk_note_mentions'))
    )
    with op.batch_alter_table('note_mentions', schema=None) as batch_op:
        batch_op.create_index('ix_note_mentions_contact_mentioned', ['contact_id', 'mentioned_at', 'is_response'], unique=False)
        batch_op.create_index('ix_note_mentions_mentioned', ['mentioned_at'], unique=False)

    op.create_table('scored_contacts',
    sa.Column('contact_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('property_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('contact_id', name=op.f('pk_scored_contacts'))
    )


def downgrade() -> None:
    op.drop_table('scored_contacts')
    with op.batch_alter_table('note_mentions', schema=None) as batch_op:
        batch_op.drop_index('ix_note_mentions_mentioned')
        batch_op.drop_index('ix_note_mentions_contact_mentioned')

    op.drop_table('note_mentions')
    with op.batch_alter_table('relationship_score_snapshots', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_relationship_score_snapshots_contact_id_contacts', 'contacts', ['contact_id'], ['id'], ondelete='CASCADE')
