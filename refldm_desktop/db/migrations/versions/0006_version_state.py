"""The user's verdict on a restored version: new, kept or discarded.

Revision ID: 0006
Revises: 0005

A plain ADD COLUMN with a default: SQLite does it in place, and every existing version
starts as "new" (not yet looked at).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("versions", sa.Column("state", sa.String(16), nullable=False, server_default="new"))


def downgrade() -> None:
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("state")
