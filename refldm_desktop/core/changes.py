"""The small frozen values that Library verbs return: what a query found or what a verb changed.

They hold plain data only (no database objects), so the UI can pass them between threads and
the CLI can print them as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from refldm_desktop.errors import LibraryError, NotFound  # noqa: F401 (also exported here)


@dataclass(frozen=True)
class FaceInfo:
    id: int
    photo_id: int
    photo: Path
    photo_state: str  # ok / error / missing
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in upright photo pixels
    score: float
    backend: str
    model_id: str
    person_id: int | None
    person_name: str | None
    assignment: str | None  # suggested / confirmed, None when unassigned
    quality_score: float | None = None  # person-independent quality as a reference, 0..1
    reference: str | None = None  # the user's say: "pinned", "excluded" or None
    need_score: float | None = None  # how much the face needs restoring, 0..1 (faces.need)
    need_reasons: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "photo_id": self.photo_id,
            "photo": str(self.photo),
            "photo_state": self.photo_state,
            "box": list(self.box),
            "score": self.score,
            "backend": self.backend,
            "model_id": self.model_id,
            "person_id": self.person_id,
            "person_name": self.person_name,
            "assignment": self.assignment,
            "quality_score": self.quality_score,
            "reference": self.reference,
            "need_score": self.need_score,
            "need_reasons": list(self.need_reasons),
        }


@dataclass(frozen=True)
class PersonInfo:
    id: int
    name: str | None
    hidden: bool
    face_count: int  # suggested + confirmed
    confirmed_count: int
    created_at: datetime

    @property
    def label(self) -> str:
        return self.name or f"Person {self.id}"

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "label": self.label,
            "hidden": self.hidden,
            "face_count": self.face_count,
            "confirmed_count": self.confirmed_count,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class PhotoInfo:
    id: int
    path: Path
    state: str
    error: str | None
    size: int
    mtime_ns: int
    content_hash: str | None
    width: int | None
    height: int | None
    format: str | None
    taken_at: datetime | None
    orientation: int | None
    backend: str | None
    face_count: int
    min_face_quality: float | None = None  # quality score of its worst face
    versions: int = 0  # restored versions made of it


@dataclass(frozen=True)
class Problem:
    path: Path
    reason: str


@dataclass(frozen=True)
class ClusterResult:
    faces_considered: int = 0
    faces_assigned: int = 0  # faces given a (suggested) person by this pass
    people_created: int = 0
    people_removed: int = 0  # unnamed people left without faces


@dataclass(frozen=True)
class RescoreResult:
    faces_rescored: int = 0  # faces scored again (older QUALITY_VERSION, or never scored)
    photos_read: int = 0
    faces_skipped: int = 0  # their photo is gone, unreadable or changed: scored at the next index


@dataclass(frozen=True)
class IndexResult:
    new: int = 0  # files seen for the first time (duplicates included)
    duplicates: int = 0  # new files with the same bytes as an indexed one: faces copied
    unchanged: int = 0  # same size and mtime (or same content after a touch): no work
    changed: int = 0  # content changed: faces found again
    moved: int = 0  # known content at a new path: row moved, faces and people kept
    missing: int = 0  # files gone since the last run (marked, not forgotten)
    reappeared: int = 0  # missing files that came back unchanged
    errors: int = 0  # files that could not be read, and folders that could not be scanned
    faces_found: int = 0
    # Faces of changed photos with a person, rejection, pin or exclusion: found again in the
    # same place (which keeps them), or not (the user names them again).
    faces_kept: int = 0
    faces_lost: int = 0
    cancelled: bool = False
    problems: tuple[Problem, ...] = ()
    clustering: ClusterResult = field(default_factory=ClusterResult)
    rescoring: RescoreResult = field(default_factory=RescoreResult)

    def to_json(self) -> dict:
        d = asdict(self)
        d["problems"] = [{"path": str(p.path), "reason": p.reason} for p in self.problems]
        return d


@dataclass(frozen=True)
class PersonRenamed:
    person_id: int
    old_name: str | None
    new_name: str


@dataclass(frozen=True)
class PersonHidden:
    person_id: int
    hidden: bool


@dataclass(frozen=True)
class PeopleMerged:
    into: int
    merged: tuple[int, ...]  # these people no longer exist
    faces_moved: int
    faces_unassigned: int  # suggested faces the user had rejected from `into`


@dataclass(frozen=True)
class PersonSplit:
    from_person: int
    new_person: int
    face_ids: tuple[int, ...]


@dataclass(frozen=True)
class FaceConfirmed:
    face_id: int
    person_id: int
    previous_person_id: int | None


@dataclass(frozen=True)
class FacesNamed:
    person_id: int
    name: str
    face_ids: tuple[int, ...]
    created: bool  # True when no one had that name: a new person was made


@dataclass(frozen=True)
class FaceRejected:
    face_id: int
    person_id: int


@dataclass(frozen=True)
class ReferencePinned:
    face_id: int
    person_id: int
    changed: bool  # False when it was pinned already


@dataclass(frozen=True)
class ReferenceExcluded:
    face_id: int
    person_id: int
    changed: bool  # False when it was excluded already


@dataclass(frozen=True)
class ReferencesReset:
    person_id: int | None  # None when one face was reset
    pins_removed: tuple[int, ...]  # face ids that are no longer pinned
    exclusions_removed: tuple[int, ...]  # face ids that may be chosen again
