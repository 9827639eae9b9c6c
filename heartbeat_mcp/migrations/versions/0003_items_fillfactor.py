"""action items keep room on each page for the next version of their rows (PostgreSQL fillfactor 50)

Every run rewrites each open finding it sees again (last_seen, times_seen):
at portfolio scale thousands of rows a cycle. With half of each page left
free, PostgreSQL writes the new version beside the old one without touching
the indexes (a HOT update) and reclaims the old one on the page, instead of
moving the row and adding an entry to each of the table's four indexes.
Pages written before this keep their rows until those rows move. SQLite
rewrites a row in place and has no such setting.

Revision ID: 0003_items_fillfactor
Revises: 0002_notifications
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0003_items_fillfactor'
down_revision: str | Sequence[str] | None = '0002_notifications'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE heartbeat_action_items SET (fillfactor = 50)')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE heartbeat_action_items RESET (fillfactor)')
