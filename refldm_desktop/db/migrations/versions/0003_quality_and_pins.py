"""Quality scores per face, a fingerprint per photo, and the user's reference pins and exclusions.

Revision ID: 0003
Revises: 0002

Only plain ADD/DROP COLUMN and new tables: SQLite does those in place. A batch rebuild of
`faces` would drop and recreate the table, and with foreign keys on, dropping it would
cascade into face_assignments and lose every person's faces.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_FACE_COLUMNS = (
    ("quality", sa.JSON()),
    ("quality_version", sa.Integer()),
    ("quality_score", sa.Float()),
    ("quality_reasons", sa.JSON()),
    ("yaw", sa.Float()),
    ("pitch", sa.Float()),
    ("roll", sa.Float()),
)


def upgrade() -> None:
    # Existing faces get NULL quality_version: the next index run (or `refs show`) scores them.
    for name, type_ in _FACE_COLUMNS:
        op.add_column("faces", sa.Column(name, type_, nullable=True))
    op.create_index(op.f("ix_faces_quality_version"), "faces", ["quality_version"])
    op.add_column("photos", sa.Column("fingerprint", sa.LargeBinary(), nullable=True))
    op.create_table(
        "face_ref_decisions",
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "decision IN ('pinned', 'excluded')", name=op.f("ck_face_ref_decisions_decision")
        ),
        sa.ForeignKeyConstraint(
            ["face_id"],
            ["faces.id"],
            name=op.f("fk_face_ref_decisions_face_id_faces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("face_id", name=op.f("pk_face_ref_decisions")),
    )


def downgrade() -> None:
    op.drop_table("face_ref_decisions")
    op.drop_column("photos", "fingerprint")
    op.drop_index(op.f("ix_faces_quality_version"), table_name="faces")
    for name, _ in reversed(_FACE_COLUMNS):
        op.drop_column("faces", name)
