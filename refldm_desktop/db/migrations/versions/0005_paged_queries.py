"""What a photo grid of 100,000 photos needs to count and page without loading rows.

Revision ID: 0005
Revises: 0004

photos.face_count and photos.min_face_quality summarise a photo's faces and
photos.version_count its restored versions (not those the user discarded: versions.
discarded_at, new here too), so that filtering on "has faces" or "restored"
and ordering by quality read one indexed column instead of joining other tables;
people.face_count and people.confirmed_count do the same for the people list. Triggers keep
them right whoever writes (the indexer, rescoring, the job queue, another version of the
app). Indexes serve the grid's orders: date taken (either way, undated photos last) and
worst face first, and the people list's most faces first.

Plain ADD COLUMN, CREATE INDEX and CREATE TRIGGER only: SQLite does those in place.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SUMMARY = """
    UPDATE photos SET
        face_count = (SELECT count(*) FROM faces WHERE faces.photo_id = photos.id),
        min_face_quality = (SELECT min(quality_score) FROM faces WHERE faces.photo_id = photos.id)
    WHERE id = {photo}
"""

# Discarded versions (their file removed by the user) do not count as restored.
_VERSIONS = "UPDATE photos SET version_count = version_count {sign} ({row}.discarded_at IS NULL) WHERE id = {row}.photo_id"
# Counted up and down (not recounted): clustering adds thousands of assignments to one
# person in a transaction, and a recount per row would make that quadratic.
_PEOPLE = (
    "UPDATE people SET face_count = face_count {sign} ({row}.state != 'rejected'), "
    "confirmed_count = confirmed_count {sign} ({row}.state = 'confirmed') WHERE id = {row}.person_id"
)

_TRIGGERS = {
    "trg_faces_summary_insert": f"AFTER INSERT ON faces BEGIN {_SUMMARY.format(photo='NEW.photo_id')}; END",
    "trg_faces_summary_delete": f"AFTER DELETE ON faces BEGIN {_SUMMARY.format(photo='OLD.photo_id')}; END",
    "trg_faces_summary_update": (
        "AFTER UPDATE OF quality_score, photo_id ON faces BEGIN "
        f"{_SUMMARY.format(photo='OLD.photo_id')}; {_SUMMARY.format(photo='NEW.photo_id')}; END"
    ),
    "trg_versions_count_insert": f"AFTER INSERT ON versions BEGIN {_VERSIONS.format(sign='+', row='NEW')}; END",
    "trg_versions_count_delete": f"AFTER DELETE ON versions BEGIN {_VERSIONS.format(sign='-', row='OLD')}; END",
    "trg_versions_count_update": (
        "AFTER UPDATE OF photo_id, discarded_at ON versions BEGIN "
        f"{_VERSIONS.format(sign='-', row='OLD')}; {_VERSIONS.format(sign='+', row='NEW')}; END"
    ),
    "trg_assignments_count_insert": (
        f"AFTER INSERT ON face_assignments BEGIN {_PEOPLE.format(sign='+', row='NEW')}; END"
    ),
    "trg_assignments_count_delete": (
        f"AFTER DELETE ON face_assignments BEGIN {_PEOPLE.format(sign='-', row='OLD')}; END"
    ),
    "trg_assignments_count_update": (
        "AFTER UPDATE OF state, person_id ON face_assignments BEGIN "
        f"{_PEOPLE.format(sign='-', row='OLD')}; {_PEOPLE.format(sign='+', row='NEW')}; END"
    ),
}

_INDEXES = {
    # Newest first walks this backwards; NULLs (undated) come last that way.
    "ix_photos_taken_at_id": "photos (taken_at, id)",
    # Oldest first with undated photos last.
    "ix_photos_taken_first": "photos (taken_at IS NULL, taken_at, id)",
    "ix_photos_quality": "photos (min_face_quality IS NULL, min_face_quality, id)",
    "ix_photos_face_count": "photos (face_count)",
    "ix_photos_version_count": "photos (version_count)",
    "ix_people_face_count": "people (face_count, id)",
}


def upgrade() -> None:
    op.add_column("photos", sa.Column("face_count", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("photos", sa.Column("min_face_quality", sa.Float(), nullable=True))
    op.add_column("photos", sa.Column("version_count", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("versions", sa.Column("discarded_at", sa.DateTime(), nullable=True))
    op.add_column("people", sa.Column("face_count", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("people", sa.Column("confirmed_count", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE photos SET "
        "face_count = (SELECT count(*) FROM faces WHERE faces.photo_id = photos.id), "
        "min_face_quality = (SELECT min(quality_score) FROM faces WHERE faces.photo_id = photos.id), "
        "version_count = (SELECT count(*) FROM versions WHERE versions.photo_id = photos.id)"
    )
    op.execute(
        "UPDATE people SET "
        "face_count = (SELECT count(*) FROM face_assignments a WHERE a.person_id = people.id "
        "AND a.state != 'rejected'), "
        "confirmed_count = (SELECT count(*) FROM face_assignments a WHERE a.person_id = people.id "
        "AND a.state = 'confirmed')"
    )
    for name, body in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    for name, on in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {on}")


def downgrade() -> None:
    for name in _INDEXES:
        op.execute(f"DROP INDEX {name}")
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.drop_column("people", "confirmed_count")
    op.drop_column("people", "face_count")
    op.drop_column("photos", "version_count")
    op.drop_column("versions", "discarded_at")
    op.drop_column("photos", "min_face_quality")
    op.drop_column("photos", "face_count")
