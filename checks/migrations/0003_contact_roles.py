"""contacts indexed by property and role

Revision ID: 0003_realtor
Revises: 0002_realtor
Create Date: 2026-12-03

The predictive checks group every contact by property for its role (a key
contact, a buyer): with the role in the index that pass reads the index
alone instead of fetching each contact's row. It replaces the property-only
index, which it serves for every lookup by property as well.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0003_realtor'
down_revision: str | Sequence[str] | None = '0002_realtor'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_property_role', ['property_id', 'role'], unique=False)
        batch_op.drop_index('ix_contacts_property')


def downgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_property', ['property_id'], unique=False)
        batch_op.drop_index('ix_contacts_property_role')
