"""Reference faces on an open session: a person's faces as faces.refselect candidates, and
the user's pins and exclusions.

refselect decides on plain data; this module loads that data and records the decisions.
A decision belongs to the face (one row per face in face_ref_decisions), so it follows the
face when the face moves to another person, and a face is never pinned and excluded at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from refldm_desktop.core import scoring
from refldm_desktop.core.changes import (
    LibraryError,
    NotFound,
    ReferenceExcluded,
    ReferencePinned,
    ReferencesReset,
)
from refldm_desktop.core.people import LIVE
from refldm_desktop.errors import Advice, advise
from refldm_desktop.db.models import (
    Face,
    FaceAssignment,
    FaceRefDecision,
    Person,
    Photo,
    PhotoState,
    RefDecision,
    utcnow,
)
from refldm_desktop.faces.refselect import Candidate

CHUNK = 500  # ids per IN (...), under SQLite's bound-parameter limit


@dataclass(frozen=True)
class PersonFaces:
    """What refselect needs about one person."""

    candidates: list[Candidate]
    pinned: list[int]  # in the order the user pinned them
    excluded: set[int]
    skipped: int  # faces that cannot serve: photo gone or unreadable, not measurable, other model


def person_of(session: Session, face_id: int) -> int | None:
    return session.scalar(
        select(FaceAssignment.person_id).where(
            FaceAssignment.face_id == face_id, FaceAssignment.state.in_(LIVE)
        )
    )


def check_person(session: Session, person_id: int) -> None:
    if session.get(Person, person_id) is None:
        raise NotFound(f"no person with id {person_id}")


def check_face(session: Session, face_id: int) -> Face:
    face = session.get(Face, face_id)
    if face is None:
        raise NotFound(f"no face with id {face_id}")
    return face


def person_face_ids(session: Session, person_id: int) -> list[int]:
    return list(
        session.scalars(
            select(FaceAssignment.face_id)
            .where(FaceAssignment.person_id == person_id, FaceAssignment.state.in_(LIVE))
            .order_by(FaceAssignment.face_id)
        )
    )


def _candidate(face: Face, photo: Photo) -> Candidate | None:
    q = scoring.load_quality(face)
    emb = face.embedding_array()
    if q is None or emb is None:
        return None
    return Candidate(
        face_id=face.id,
        photo_id=photo.id,
        photo_path=Path(photo.path),
        embedding=emb,
        quality=q,
        taken_at=photo.taken_at,
        content_hash=photo.content_hash,
        photo_fingerprint=scoring.unpack_fingerprint(photo.fingerprint),
        box=face.box,
        landmarks=face.landmarks_array(),
    )


def target_candidate(session: Session, face_id: int, model_id: str) -> Candidate:
    """The face to restore, as refselect needs it (its photo may be gone: only its
    measures and its embedding are used)."""
    face = check_face(session, face_id)
    if face.model_id != model_id:
        raise LibraryError(
            f"face {face_id} was found by another face backend ({face.model_id}); "
            f"open the library with that backend to choose its references"
        )
    c = _candidate(face, face.photo)
    if c is None:
        why = "; ".join(face.quality_reasons or []) or "its quality is not measured yet"
        if face.embedding is None:
            why = "it has no identity embedding"
        raise LibraryError(f"cannot choose references for face {face_id}: {why}")
    return c


def person_faces(session: Session, person_id: int, model_id: str) -> PersonFaces:
    """The person's faces that can serve as references, with the user's decisions."""
    check_person(session, person_id)
    live = and_(
        FaceAssignment.face_id == Face.id,
        FaceAssignment.person_id == person_id,
        FaceAssignment.state.in_(LIVE),
    )
    rows = session.execute(
        select(Face, Photo, FaceRefDecision.decision, FaceRefDecision.decided_at)
        .join(FaceAssignment, live)
        .join(Photo, Photo.id == Face.photo_id)
        .outerjoin(FaceRefDecision, FaceRefDecision.face_id == Face.id)
        .order_by(Face.id)
    ).all()
    cands: list[Candidate] = []
    pins: list[tuple] = []
    excluded: set[int] = set()
    skipped = 0
    other_models = {face.model_id for face, *_ in rows if face.model_id != model_id}
    if rows and all(face.model_id != model_id for face, *_ in rows):
        raise LibraryError(
            f"person {person_id}'s faces were found by another face backend "
            f"({', '.join(sorted(other_models))}); choose that backend to see their references"
        )
    for face, photo, decision, decided_at in rows:
        if decision == RefDecision.PINNED:
            pins.append((decided_at, face.id))
        elif decision == RefDecision.EXCLUDED:
            excluded.add(face.id)
        # A reference is cut from its photo, so the photo must be there as indexed.
        c = _candidate(face, photo) if photo.state == PhotoState.OK and face.model_id == model_id else None
        if c is None:
            skipped += 1
        else:
            cands.append(c)
    return PersonFaces(cands, [fid for _, fid in sorted(pins)], excluded, skipped)


def _decision_target(session: Session, face_id: int, verb: str) -> int:
    check_face(session, face_id)
    person_id = person_of(session, face_id)
    if person_id is None:
        raise LibraryError(
            f"face {face_id} belongs to nobody; references are chosen among a person's faces, "
            f"so put it into a person ({advise(Advice.CONFIRM_FACE, face=face_id)}) before you {verb} it"
        )
    return person_id


def _decide(session: Session, face_id: int, decision: RefDecision) -> tuple[int, bool]:
    """Record a pin or an exclusion; (person id, whether anything changed)."""
    verb = "pin" if decision == RefDecision.PINNED else "exclude"
    person_id = _decision_target(session, face_id, verb)
    row = session.get(FaceRefDecision, face_id)
    if row is None:
        session.add(FaceRefDecision(face_id=face_id, decision=decision, decided_at=utcnow()))
        return person_id, True
    if row.decision != decision:
        held = "pinned as a reference" if row.decision == RefDecision.PINNED else "excluded from references"
        undo = "pin" if row.decision == RefDecision.PINNED else "exclusion"
        raise LibraryError(
            f"face {face_id} is {held}; a face cannot be pinned and excluded "
            f"at once (undo the {undo} first: {advise(Advice.RESET_REFS, face=face_id)})"
        )
    return person_id, False


def pin(session: Session, face_id: int) -> ReferencePinned:
    """Always use this face among its person's references (first, in pin order)."""
    return ReferencePinned(face_id, *_decide(session, face_id, RefDecision.PINNED))


def exclude(session: Session, face_id: int) -> ReferenceExcluded:
    """Never use this face as a reference."""
    return ReferenceExcluded(face_id, *_decide(session, face_id, RefDecision.EXCLUDED))


def reset(session: Session, person_id: int | None = None, face_id: int | None = None) -> ReferencesReset:
    """Forget the pins and exclusions of one face, or of all the faces a person has now."""
    if face_id is not None and person_id is None:
        check_face(session, face_id)
        ids = [face_id]
    elif person_id is not None and face_id is None:
        check_person(session, person_id)
        ids = person_face_ids(session, person_id)
    else:
        raise LibraryError("reset either one person's references or one face's, not both")
    pins: list[int] = []
    exclusions: list[int] = []
    for i in range(0, len(ids), CHUNK):
        for row in session.scalars(
            select(FaceRefDecision).where(FaceRefDecision.face_id.in_(ids[i : i + CHUNK]))
        ):
            (pins if row.decision == RefDecision.PINNED else exclusions).append(row.face_id)
            session.delete(row)
    return ReferencesReset(person_id, tuple(sorted(pins)), tuple(sorted(exclusions)))
