"""scored contacts keep their previous score and latest snapshot

Revision ID: 0004_realtor
Revises: 0003_realtor
Create Date: 2026-12-03

relationship_scores writes each changed score in SQL, and cooling_relationships
compares every watched contact's latest score with their previous one: both
read scored_contacts instead of walking each contact's snapshots. The new
columns are filled from the snapshots already written.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_realtor'
down_revision: str | Sequence[str] | None = '0003_realtor'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('scored_contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('snapshot_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
    # Each contact's latest snapshot, and the score of the one before it (as relationship_scores reads them).
    op.execute(
        """
        UPDATE scored_contacts SET
          snapshot_id = (SELECT s.id FROM relationship_score_snapshots s WHERE s.contact_id = scored_contacts.contact_id
                         ORDER BY s.scored_at DESC, s.id DESC LIMIT 1),
          previous_score = (SELECT s.score FROM relationship_score_snapshots s
                            WHERE s.contact_id = scored_contacts.contact_id
                            ORDER BY s.scored_at DESC, s.id DESC LIMIT 1 OFFSET 1)
        """
    )


def downgrade() -> None:
    with op.batch_alter_table('scored_contacts', schema=None) as batch_op:
        batch_op.drop_column('snapshot_id')
        batch_op.drop_column('previous_score')
