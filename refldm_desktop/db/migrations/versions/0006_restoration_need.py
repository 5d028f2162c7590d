"""Restoration need per face, beside the reference quality.

Revision ID: 0006
Revises: 0005

Plain ADD/DROP COLUMN only (see 0003 for why `faces` is never rebuilt). Existing faces get
NULL need_version: the next rescoring works their need out, from the stored measures when
they are current, without decoding the photo.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_FACE_COLUMNS = (
    ("need_version", sa.Integer()),
    ("need_score", sa.Float()),
    ("need_reasons", sa.JSON()),
)


def upgrade() -> None:
    for name, type_ in _FACE_COLUMNS:
        op.add_column("faces", sa.Column(name, type_, nullable=True))
    op.create_index(op.f("ix_faces_need_version"), "faces", ["need_version"])


def downgrade() -> None:
    op.drop_index(op.f("ix_faces_need_version"), table_name="faces")
    for name, _ in reversed(_FACE_COLUMNS):
        op.drop_column("faces", name)
