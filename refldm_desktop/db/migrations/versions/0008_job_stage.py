"""The phase a running job is in (a quick preview, then the full result).

Revision ID: 0008
Revises: 0007

Written with the job's progress, so that an app watching a job that another process runs
(`jobs run` from the command line) shows its phase and counts its steps within it, as it
does for its own jobs. One nullable column: jobs without phases have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("stage", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "stage")
