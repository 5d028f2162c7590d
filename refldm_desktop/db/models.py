"""The identity database's tables, as SQLAlchemy 2.0 typed models.

The schema itself is made only by the Alembic migrations in `migrations/`; these classes must
match them (a test compares the two). To change the schema: edit a model, then add a
migration (see migrations/README).
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    JSON,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints let Alembic's batch mode rebuild SQLite tables in later migrations.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Naive UTC: SQLite has no time zones, so every stored time is UTC by convention."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class PhotoState(enum.StrEnum):
    OK = "ok"
    ERROR = "error"  # could not be read; `error` says why
    MISSING = "missing"  # was indexed, the file is gone; kept so faces and people survive


class AssignmentState(enum.StrEnum):
    SUGGESTED = "suggested"  # clustering put the face here; later clustering keeps it
    CONFIRMED = "confirmed"  # the user said yes
    REJECTED = "rejected"  # the user said no: the face must never join this person again


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"  # claimed by the one runner that holds the runner lock
    DONE = "done"
    FAILED = "failed"  # `error` says why; `jobs resume` queues it again
    CANCELLED = "cancelled"


ENDED = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})  # a job in these never runs again by itself


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class LibraryFolder(Base):
    """A folder the user asked to index (a root); photos below it belong to it."""

    __tablename__ = "library_folders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Photo(Base):
    __tablename__ = "photos"
    __table_args__ = (
        CheckConstraint("state IN ('ok', 'error', 'missing')", name="state"),
        # The photo grid's orders (migration 0005).
        Index("ix_photos_taken_at_id", "taken_at", "id"),
        Index("ix_photos_taken_first", text("taken_at IS NULL"), "taken_at", "id"),
        Index("ix_photos_quality", text("min_face_quality IS NULL"), "min_face_quality", "id"),
        Index("ix_photos_face_count", "face_count"),
        Index("ix_photos_version_count", "version_count"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    folder_id: Mapped[int | None] = mapped_column(
        ForeignKey("library_folders.id", ondelete="SET NULL"), index=True
    )
    path: Mapped[str] = mapped_column(Text, unique=True)  # absolute
    size: Mapped[int] = mapped_column(Integer)
    mtime_ns: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # hex sha256
    width: Mapped[int | None] = mapped_column(Integer)  # upright (EXIF orientation applied)
    height: Mapped[int | None] = mapped_column(Integer)
    format: Mapped[str | None] = mapped_column(String(16))
    taken_at: Mapped[datetime | None] = mapped_column(DateTime)  # EXIF DateTimeOriginal
    orientation: Mapped[int | None] = mapped_column(Integer)  # EXIF 1..8
    state: Mapped[str] = mapped_column(String(16), default=PhotoState.OK)
    # Why the file could not be read. Kept while the photo is missing, so that a file that
    # comes back unchanged returns to its earlier state.
    error: Mapped[str | None] = mapped_column(Text)
    indexed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    backend: Mapped[str | None] = mapped_column(String(64))  # face backend that processed it
    # quality.photo_fingerprint of the whole photo (int8 bytes): finds copies of one picture
    # (resized, recompressed, letterboxed) among a person's faces. Made with the faces'
    # quality scores and recomputed with them; None for photos without faces.
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A summary of its faces, kept by triggers on `faces` (migration 0005) so that the grid
    # filters and orders on one column: how many, and the quality score of the worst one.
    face_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    min_face_quality: Mapped[float | None] = mapped_column(Float)
    version_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))  # restored versions

    faces: Mapped[list[Face]] = relationship(
        back_populates="photo", cascade="all, delete-orphan", passive_deletes=True
    )


class Face(Base):
    __tablename__ = "faces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    # Box in the upright photo's pixels.
    x0: Mapped[float] = mapped_column(Float)
    y0: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)  # detector confidence, backend's own scale
    landmarks: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (n, 2), row-major
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32 (dim,)
    backend: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str] = mapped_column(String(128), index=True)  # the embedding space
    crop_path: Mapped[str | None] = mapped_column(Text)  # aligned crop, under home/cache
    # Set for new (or newly rejected) faces; the next clustering pass clears it.
    needs_clustering: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Quality as a reference (faces.quality), measured right after detection. Only the
    # person-independent part is stored: identity consistency depends on who else is in
    # the person, so reference choice computes it on every call.
    # quality: QualityScores.to_dict(); None when the face could not be measured (then
    # quality_reasons says why and the face is never chosen as a reference).
    quality: Mapped[dict | None] = mapped_column(JSON)
    # The QUALITY_VERSION that measured it: a face whose version differs is rescored.
    # None: never scored (faces indexed before scoring existed).
    quality_version: Mapped[int | None] = mapped_column(Integer, index=True)
    quality_score: Mapped[float | None] = mapped_column(Float)  # quality.rate(...).score, 0..1
    quality_reasons: Mapped[list | None] = mapped_column(JSON)  # rate(...).reasons, worst first
    # How much the face needs restoring (faces.need), worked out from `quality`'s measures.
    # need_version is the NEED_VERSION that rated it; None or another: rated again (from
    # the stored measures while quality_version is current, so without decoding the photo).
    need_version: Mapped[int | None] = mapped_column(Integer, index=True)
    need_score: Mapped[float | None] = mapped_column(Float)  # need.rate_need(...).score, 0..1
    need_reasons: Mapped[list | None] = mapped_column(JSON)  # rate_need(...).reasons, worst first
    # Head pose in degrees (also inside `quality`), as columns so that queries can use them.
    yaw: Mapped[float | None] = mapped_column(Float)
    pitch: Mapped[float | None] = mapped_column(Float)
    roll: Mapped[float | None] = mapped_column(Float)

    photo: Mapped[Photo] = relationship(back_populates="faces")

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)

    def landmarks_array(self) -> np.ndarray:
        return np.frombuffer(self.landmarks, dtype=np.float32).reshape(-1, 2)

    def embedding_array(self) -> np.ndarray | None:
        if self.embedding is None:
            return None
        return np.frombuffer(self.embedding, dtype=np.float32)


class Person(Base):
    __tablename__ = "people"
    __table_args__ = (Index("ix_people_face_count", "face_count", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)  # None until the user names them
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Live (suggested + confirmed) and confirmed faces, kept by triggers on
    # face_assignments (migration 0005): the people list orders and shows them per row.
    face_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    confirmed_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class FaceAssignment(Base):
    """A face's link to a person. A face has at most one live (suggested or confirmed)
    assignment, and any number of rejected ones that remember whom it is not."""

    __tablename__ = "face_assignments"
    __table_args__ = (
        UniqueConstraint("face_id", "person_id"),
        CheckConstraint("state IN ('suggested', 'confirmed', 'rejected')", name="state"),
        Index(
            "uq_face_assignments_live_face",
            "face_id",
            unique=True,
            sqlite_where=text("state != 'rejected'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Job(Base):
    """One unit of background work (restore one photo), kept across restarts.

    A job is finished exactly once: the Version it produced is written in the same
    transaction that marks it done (see jobs.queue).
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="state"
        ),
        # Running a batch again must not queue a photo twice. Jobs without a photo are
        # never merged (SQLite treats NULLs as distinct).
        UniqueConstraint("batch_id", "photo_id"),
        Index("ix_jobs_state_priority_id", "state", "priority", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # handler name, e.g. "restore_photo"
    batch_id: Mapped[str] = mapped_column(String(64))  # groups the jobs of one restore/batch run
    photo_id: Mapped[int | None] = mapped_column(
        ForeignKey("photos.id", ondelete="CASCADE"), index=True
    )
    # What to do: restorer, model, steps, cfg, seed, device, output dir, options.
    payload: Mapped[dict] = mapped_column(JSON)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher runs first
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED)
    # Set by `cancel` on a running job (possibly from another process); the runner sees it
    # at the handler's next cancel check.
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    faces_done: Mapped[int] = mapped_column(Integer, default=0)
    faces_total: Mapped[int | None] = mapped_column(Integer)
    step: Mapped[int | None] = mapped_column(Integer)
    steps: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)  # the latest progress message
    # The phase a job with phases is in (jobs.runner PREVIEW_STAGE, FULL_STAGE): its step and
    # steps count within it.
    stage: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)  # why it failed
    # Things the user should know although the job went on (out-of-memory fallbacks,
    # interruptions), one per line.
    note: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSON)  # the handler's summary (faces and reasons)
    # An output the handler is about to write but has not recorded yet: {"dir", "sha256",
    # "size"}. If the process dies in between, the next attempt removes that orphan file.
    staged: Mapped[dict | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # times a runner started it
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Version(Base):
    """A restored copy of a photo: a new file, never the original."""

    __tablename__ = "versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Kept when the photo row goes, so the record of how the file was made survives.
    photo_id: Mapped[int | None] = mapped_column(
        ForeignKey("photos.id", ondelete="SET NULL"), index=True
    )
    # At most one version per job: the database itself refuses a job finished twice.
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), unique=True
    )
    original_path: Mapped[str] = mapped_column(Text)  # the original's path when restored
    original_sha256: Mapped[str | None] = mapped_column(String(64))
    output_path: Mapped[str] = mapped_column(Text, unique=True)  # absolute
    output_sha256: Mapped[str] = mapped_column(String(64))
    restorer: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(128))
    parameters: Mapped[dict] = mapped_column(JSON)  # steps, cfg, device, upscale, ...
    seed: Mapped[int | None] = mapped_column(Integer)
    # Per restored face: [{"face_id": 3, "references": [11, 12, 19]}, ...]
    references_used: Mapped[list] = mapped_column(JSON)
    # Per face of the photo: [{"face_id", "box", "person_id", "status"}, ...]; status is
    # "restored" or the reason it was skipped.
    face_status: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Set when the user discarded it: its file was removed; the record stays, so how it was
    # made is still known, and its file name is never given to another version.
    discarded_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Set when the user looked at it and kept it: the result is wanted, not merely made.
    kept_at: Mapped[datetime | None] = mapped_column(DateTime)


class RefDecision(enum.StrEnum):
    PINNED = "pinned"  # always among the person's references, first
    EXCLUDED = "excluded"  # never a reference


class FaceRefDecision(Base):
    """The user's say on a face as a reference: pinned or excluded.

    Keyed by the face, not by (face, person): a face belongs to one person at a time, and
    when it moves (merge, confirm into another person) the decision moves with it. One row
    per face, so a face cannot be pinned and excluded at once. Deleted with the face; when its
    photo's content changed, the new face found in its place gets it (core.indexer)."""

    __tablename__ = "face_ref_decisions"
    __table_args__ = (CheckConstraint("decision IN ('pinned', 'excluded')", name="decision"),)

    face_id: Mapped[int] = mapped_column(
        ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True
    )
    decision: Mapped[str] = mapped_column(String(16))
    # Pins are listed in the order the user made them.
    decided_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PeopleEdit(Base):
    """One undoable people edit (rename, merge, split, hide, confirm, reject, pin, exclude,
    reset): the state of the people and faces it touched, before and after.

    Written in the edit's own transaction, so the log never disagrees with the library, and
    kept in the database so that an edit made in the CLI can be undone in the app and the
    other way round. Undone edits stay until the next new edit (they are the redo list)."""

    __tablename__ = "people_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    verb: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(Text)  # "Merge 2 people into Ann", for menus
    before: Mapped[dict] = mapped_column(JSON)  # core.undo snapshot
    after: Mapped[dict] = mapped_column(JSON)
    undone: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def pack_array(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float32).tobytes()
