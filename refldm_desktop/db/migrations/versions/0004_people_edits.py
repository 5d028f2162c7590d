"""The undo log of people edits.

Revision ID: 0004
Revises: 0003

A new table only: nothing existing is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("verb", sa.String(length=32), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("undone", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people_edits")),
    )
    op.create_index(op.f("ix_people_edits_undone"), "people_edits", ["undone"])


def downgrade() -> None:
    op.drop_index(op.f("ix_people_edits_undone"), table_name="people_edits")
    op.drop_table("people_edits")
