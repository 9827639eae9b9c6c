"""scored contacts keep their previous score

Revision ID: 0004_realtor
Revises: 0003_realtor
Create Date: 2026-12-03

cooling_relationships finds the watched contacts whose latest score dropped
from their previous one in scored_contacts, instead of walking every
contact's snapshots; relationship_scores keeps it as it writes each changed
score. Filled from the snapshots already written.
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
    # The score of each contact's snapshot before the latest, in the order relationship_scores reads them.
    op.execute(
        """
        UPDATE scored_contacts SET previous_score = (
          SELECT s.score FROM relationship_score_snapshots s WHERE s.contact_id = scored_contacts.contact_id
          ORDER BY s.scored_at DESC, s.id DESC LIMIT 1 OFFSET 1)
        """
    )


def downgrade() -> None:
    with op.batch_alter_table('scored_contacts', schema=None) as batch_op:
        batch_op.drop_column('previous_score')
