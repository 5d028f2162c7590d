"""People: incremental clustering and the user's decisions, on an open session.

The rule that keeps user decisions safe: clustering only ever adds a suggested assignment to
a face that has no live one. It never moves a face that already has a person, and never puts
a face into a person it was rejected from. Every decision verb writes its outcome as
assignment rows, so later clustering sees it as fixed or forbidden.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, cast

import numpy as np
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from refldm_desktop.core.changes import (
    ClusterResult,
    FaceConfirmed,
    FaceRejected,
    FacesNamed,
    LibraryError,
    NotFound,
    PeopleMerged,
    PersonHidden,
    PersonRenamed,
    PersonSplit,
)
from refldm_desktop.db.models import AssignmentState, Face, FaceAssignment, Person, utcnow
from refldm_desktop.faces.types import EmbeddingSpace

# cluster(space, embeddings, photo_ids, fixed, forbidden, search=None) -> labels, as
# faces.cluster.cluster. `search` is a hint: the faces whose neighbours are worth looking
# for (None: every unassigned face); a clusterer may look at more.
ClusterFn = Callable[..., list["int | None"]]

LIVE = (AssignmentState.SUGGESTED, AssignmentState.CONFIRMED)


def needs_clustering(session: Session, model_id: str) -> bool:
    return bool(session.scalar(
        select(exists().where(Face.model_id == model_id, Face.needs_clustering.is_(True)))
    ))


def recluster(
    session: Session, space: EmbeddingSpace, cluster: ClusterFn, *, full: bool = False
) -> ClusterResult:
    """Give unassigned faces of `space` a person where the clusterer finds one.

    Every face of the space takes part, so that faces left alone earlier can found a person
    once enough similar faces have arrived. Only the faces marked `needs_clustering` (new,
    rejected, or left without a person by a merge) look for their nearest faces, unless
    `full`: the others already looked and found no one, so only a new face can change
    that, and adding a few photos to a large library stays cheap. The caller commits.
    """
    rows = session.execute(
        select(Face.id, Face.photo_id, Face.embedding, Face.needs_clustering)
        .where(Face.model_id == space.model_id, Face.embedding.is_not(None))
        .order_by(Face.id)
    ).all()
    if not rows:
        return ClusterResult()
    ids = [r.id for r in rows]
    index = {fid: i for i, fid in enumerate(ids)}
    fixed: list[int | None] = [None] * len(ids)
    forbidden_sets: list[set[int]] = [set() for _ in ids]
    for face_id, person_id, state in session.execute(
        select(FaceAssignment.face_id, FaceAssignment.person_id, FaceAssignment.state)
        .join(Face, Face.id == FaceAssignment.face_id)
        .where(Face.model_id == space.model_id)
    ):
        i = index.get(face_id)
        if i is None:
            continue
        if state == AssignmentState.REJECTED:
            forbidden_sets[i].add(person_id)
        else:
            fixed[i] = person_id
    blobs = [r.embedding for r in rows]
    if len({len(b) for b in blobs}) == 1:  # one copy for the lot, not one per face
        embeddings = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
    else:
        embeddings = np.stack([np.frombuffer(b, dtype=np.float32) for b in blobs])
    forbidden = [frozenset(s) for s in forbidden_sets]
    search = None if full else [bool(r.needs_clustering) for r in rows]
    labels = cluster(space, embeddings, [r.photo_id for r in rows], fixed, forbidden, search=search)
    if len(labels) != len(ids):
        raise RuntimeError(f"clustering returned {len(labels)} labels for {len(ids)} faces")

    existing = set(session.scalars(select(Person.id)))
    new_people: dict[int, Person] = {}
    assigned = 0
    for i, label in enumerate(labels):
        if fixed[i] is not None or label is None:
            continue  # user decisions and earlier suggestions are never moved
        if label < 0:
            person = new_people.get(label)
            if person is None:
                person = new_people[label] = Person()
                session.add(person)
                session.flush()
            person_id = person.id
        elif label in existing:
            person_id = label
        else:
            continue
        if person_id in forbidden[i]:
            continue
        session.add(
            FaceAssignment(face_id=ids[i], person_id=person_id, state=AssignmentState.SUGGESTED)
        )
        assigned += 1
    session.execute(
        update(Face)
        .where(Face.model_id == space.model_id, Face.needs_clustering.is_(True))
        .values(needs_clustering=False)
    )
    removed = remove_empty_people(session)
    return ClusterResult(
        faces_considered=len(ids),
        faces_assigned=assigned,
        people_created=len(new_people),
        people_removed=removed,
    )


def remove_empty_people(session: Session) -> int:
    """Drop people clustering made that have no faces left; named or hidden ones are the
    user's and stay."""
    session.flush()
    live = select(FaceAssignment.id).where(
        FaceAssignment.person_id == Person.id, FaceAssignment.state.in_(LIVE)
    )
    # A DELETE's result is a CursorResult, which the stubs do not say.
    result = cast("CursorResult[Any]", session.execute(
        delete(Person)
        .where(Person.name.is_(None), Person.hidden.is_(False), ~exists(live))
        .execution_options(synchronize_session=False)
    ))
    return result.rowcount or 0


def _person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person with id {person_id}")
    return person


def _face(session: Session, face_id: int) -> Face:
    face = session.get(Face, face_id)
    if face is None:
        raise NotFound(f"no face with id {face_id}")
    return face


def _live(session: Session, face_id: int) -> FaceAssignment | None:
    return session.scalar(
        select(FaceAssignment).where(
            FaceAssignment.face_id == face_id, FaceAssignment.state.in_(LIVE)
        )
    )


def _row(session: Session, face_id: int, person_id: int) -> FaceAssignment | None:
    return session.scalar(
        select(FaceAssignment).where(
            FaceAssignment.face_id == face_id, FaceAssignment.person_id == person_id
        )
    )


def rename(session: Session, person_id: int, name: str) -> PersonRenamed:
    name = name.strip()
    if not name:
        raise LibraryError("a person's name cannot be empty")
    person = _person(session, person_id)
    old = person.name
    person.name = name
    return PersonRenamed(person_id, old, name)


def hide(session: Session, person_id: int, hidden: bool = True) -> PersonHidden:
    person = _person(session, person_id)
    person.hidden = hidden
    return PersonHidden(person_id, hidden)


def confirm(session: Session, face_id: int, person_id: int | None = None) -> FaceConfirmed:
    """Confirm a face's person, or (with person_id) put it into that person, confirmed."""
    _face(session, face_id)
    live = _live(session, face_id)
    previous = live.person_id if live else None
    if person_id is None:
        if live is None:
            raise LibraryError(
                f"face {face_id} belongs to nobody yet; say which person it is to confirm it"
            )
        person_id = live.person_id
    _person(session, person_id)
    if live is not None and live.person_id != person_id:
        session.delete(live)
        session.flush()
        live = None
    if live is None:
        live = _row(session, face_id, person_id)  # an earlier rejection the user takes back
        if live is None:
            live = FaceAssignment(face_id=face_id, person_id=person_id)
            session.add(live)
    live.state = AssignmentState.CONFIRMED
    live.updated_at = utcnow()
    return FaceConfirmed(face_id, person_id, previous)


def name_faces(session: Session, face_ids: Sequence[int], name: str) -> FacesNamed:
    """These faces are `name`: the person of that name (case aside) gets them, confirmed;
    with no such person, a new one is made. A hidden namesake is not reused."""
    name = name.strip()
    if not name:
        raise LibraryError("a person's name cannot be empty")
    for fid in face_ids:
        _face(session, fid)
    person = session.scalar(
        select(Person)
        .where(func.lower(Person.name) == name.lower(), Person.hidden.is_(False))
        .order_by(Person.id)
        .limit(1)
    )
    created = person is None
    if person is None:
        person = Person(name=name)
        session.add(person)
        session.flush()
    for fid in face_ids:
        confirm(session, fid, person.id)
    return FacesNamed(person.id, person.name or name, tuple(face_ids), created)


def reject(session: Session, face_id: int) -> FaceRejected:
    """The face is not its current person. It stays unassigned until clustering finds it
    another person (never this one)."""
    face = _face(session, face_id)
    live = _live(session, face_id)
    if live is None:
        raise LibraryError(f"face {face_id} belongs to nobody; there is nothing to reject")
    live.state = AssignmentState.REJECTED
    live.updated_at = utcnow()
    face.needs_clustering = True
    return FaceRejected(face_id, live.person_id)


def merge(session: Session, into: int, others: Sequence[int]) -> PeopleMerged:
    """The user says these people are one: their faces move into `into`, the others go."""
    others = list(dict.fromkeys(others))
    if not others:
        raise LibraryError("name at least one person to merge into the first")
    if into in others:
        raise LibraryError(f"cannot merge person {into} into itself")
    target = _person(session, into)
    for pid in others:
        _person(session, pid)
    moved = unassigned = 0
    for pid in others:
        other = session.get_one(Person, pid)
        rows = session.scalars(select(FaceAssignment).where(FaceAssignment.person_id == pid)).all()
        for row in rows:
            there = _row(session, row.face_id, into)
            if row.state == AssignmentState.REJECTED:
                # Not `pid` now means not `into`, unless the face already has a row there.
                if there is None:
                    row.person_id = into
                else:
                    session.delete(row)
                continue
            if there is not None and there.state == AssignmentState.REJECTED:
                if row.state == AssignmentState.CONFIRMED:
                    session.delete(there)  # a firm yes for pid beats the old no for into
                    session.flush()
                else:
                    # Only a suggestion: the user's earlier no wins; the face waits for
                    # clustering to place it elsewhere.
                    session.delete(row)
                    session.get_one(Face, row.face_id).needs_clustering = True
                    unassigned += 1
                    continue
            row.person_id = into
            row.updated_at = utcnow()
            moved += 1
        session.flush()
        if target.name is None and other.name:
            target.name = other.name
        session.delete(other)
    session.flush()
    return PeopleMerged(into, tuple(others), moved, unassigned)


def split(session: Session, person_id: int, face_ids: Sequence[int]) -> PersonSplit:
    """The given faces of a person are someone else: they become a new person, confirmed,
    and are remembered as not the old one."""
    face_ids = list(dict.fromkeys(face_ids))
    if not face_ids:
        raise LibraryError("name at least one face to split off")
    _person(session, person_id)
    lives = []
    for fid in face_ids:
        _face(session, fid)
        live = _live(session, fid)
        if live is None or live.person_id != person_id:
            raise LibraryError(f"face {fid} is not one of person {person_id}'s faces")
        lives.append(live)
    new = Person()
    session.add(new)
    session.flush()
    for live in lives:
        live.person_id = new.id
        live.state = AssignmentState.CONFIRMED
        live.updated_at = utcnow()
    session.flush()  # free (face, old person) before the rejections take that pair
    for live in lives:
        session.add(
            FaceAssignment(face_id=live.face_id, person_id=person_id, state=AssignmentState.REJECTED)
        )
    session.flush()
    return PersonSplit(person_id, new.id, tuple(face_ids))


def faces_of_people(session: Session, person_ids: Sequence[int]) -> list[int]:
    """Every face with any assignment (live or rejected) to one of these people."""
    return sorted(
        session.scalars(
            select(FaceAssignment.face_id).where(FaceAssignment.person_id.in_(list(person_ids))).distinct()
        )
    )
