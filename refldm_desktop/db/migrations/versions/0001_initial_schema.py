"""Initial schema: library folders, photos, faces, people and face assignments.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "library_folders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_library_folders")),
        sa.UniqueConstraint("path", name=op.f("uq_library_folders_path")),
    )
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
    )
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("folder_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("mtime_ns", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=True),
        sa.Column("taken_at", sa.DateTime(), nullable=True),
        sa.Column("orientation", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("indexed_at", sa.DateTime(), nullable=False),
        sa.Column("backend", sa.String(length=64), nullable=True),
        sa.CheckConstraint("state IN ('ok', 'error', 'missing')", name=op.f("ck_photos_state")),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["library_folders.id"],
            name=op.f("fk_photos_folder_id_library_folders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
        sa.UniqueConstraint("path", name=op.f("uq_photos_path")),
    )
    op.create_index(op.f("ix_photos_content_hash"), "photos", ["content_hash"])
    op.create_index(op.f("ix_photos_folder_id"), "photos", ["folder_id"])

    op.create_table(
        "faces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("x0", sa.Float(), nullable=False),
        sa.Column("y0", sa.Float(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("landmarks", sa.LargeBinary(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("backend", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("crop_path", sa.Text(), nullable=True),
        sa.Column("needs_clustering", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"], ["photos.id"], name=op.f("fk_faces_photo_id_photos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faces")),
    )
    op.create_index(op.f("ix_faces_model_id"), "faces", ["model_id"])
    op.create_index(op.f("ix_faces_needs_clustering"), "faces", ["needs_clustering"])
    op.create_index(op.f("ix_faces_photo_id"), "faces", ["photo_id"])

    op.create_table(
        "face_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "state IN ('suggested', 'confirmed', 'rejected')",
            name=op.f("ck_face_assignments_state"),
        ),
        sa.ForeignKeyConstraint(
            ["face_id"], ["faces.id"], name=op.f("fk_face_assignments_face_id_faces"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_face_assignments_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_assignments")),
        sa.UniqueConstraint("face_id", "person_id", name=op.f("uq_face_assignments_face_id_person_id")),
    )
    op.create_index(op.f("ix_face_assignments_person_id"), "face_assignments", ["person_id"])
    # One live (suggested or confirmed) assignment per face; rejections do not count.
    op.create_index(
        "uq_face_assignments_live_face",
        "face_assignments",
        ["face_id"],
        unique=True,
        sqlite_where=sa.text("state != 'rejected'"),
    )


def downgrade() -> None:
    op.drop_table("face_assignments")
    op.drop_table("faces")
    op.drop_table("photos")
    op.drop_table("people")
    op.drop_table("library_folders")
