"""When the user kept a restored version (Keep in the compare view, `versions keep`).

Revision ID: 0007
Revises: 0006

One nullable column: versions made before stay undecided (NULL), which is what they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("versions", sa.Column("kept_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("versions", "kept_at")
