"""Undo and redo of people edits, on an open session.

An edit records the state of everything it touched, before and after: the people (name,
hidden, when created, or absent) and the faces (all their assignment rows, their reference
decision, whether they wait for clustering). Undo writes the "before" state back, redo the
"after" state. Snapshots rather than inverse operations, because the inverse of a merge is
not a split: the merged people must come back with their names, their confirmations and
rejections, and the faces' pins and exclusions.

Edits are undone last first. Between an edit and its undo, only clustering and indexing
change people (they never rename, move a decided face or unhide): undo keeps what they did
to faces outside the edit, and sends faces whose person it removes back to clustering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from refldm_desktop.core.changes import LibraryError
from refldm_desktop.db.models import (
    Face,
    FaceAssignment,
    FaceRefDecision,
    PeopleEdit,
    Person,
)

KEEP = 200  # edits kept in the log; older ones can no longer be undone
CHUNK = 500  # ids per IN (...), under SQLite's bound-parameter limit
T = TypeVar("T")


@dataclass(frozen=True)
class EditUndone:
    """What undo or redo changed."""

    redo: bool  # False: an edit was undone; True: an undone edit was made again
    label: str  # the edit, as menus name it ("Merge 2 people into Ann")
    person_ids: tuple[int, ...]  # people whose name, visibility, faces or existence changed
    face_ids: tuple[int, ...]  # faces whose person or reference decision changed


@dataclass(frozen=True)
class UndoState:
    undo: str | None  # label of the edit Undo would take back, None when there is none
    redo: str | None


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _face_rows(session: Session, face_ids: list[int]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for part in _chunks(face_ids):
        for fid, nc in session.execute(select(Face.id, Face.needs_clustering).where(Face.id.in_(part))):
            out[fid] = {"assignments": [], "decision": None, "needs_clustering": bool(nc)}
        for fid, pid, state in session.execute(
            select(FaceAssignment.face_id, FaceAssignment.person_id, FaceAssignment.state)
            .where(FaceAssignment.face_id.in_(part))
            .order_by(FaceAssignment.face_id, FaceAssignment.person_id)
        ):
            out[fid]["assignments"].append([pid, str(state)])
        for d in session.scalars(select(FaceRefDecision).where(FaceRefDecision.face_id.in_(part))):
            out[d.face_id]["decision"] = [str(d.decision), _iso(d.decided_at)]
    return out


def _person_rows(session: Session, person_ids: Iterable[int]) -> dict[int, dict | None]:
    ids = sorted(set(person_ids))
    out: dict[int, dict | None] = {pid: None for pid in ids}
    for part in _chunks(ids):
        for p in session.scalars(select(Person).where(Person.id.in_(part))):
            out[p.id] = {"name": p.name, "hidden": bool(p.hidden), "created_at": _iso(p.created_at)}
    return out


def _referenced(faces: dict[int, dict]) -> set[int]:
    return {pid for row in faces.values() for pid, _ in row["assignments"]}


def _max_person(session: Session) -> int:
    return session.scalar(select(func.max(Person.id))) or 0


def recorded(
    session: Session,
    verb: str,
    people: Iterable[int],
    faces: Iterable[int],
    edit: Callable[[], T],
    label: Callable[[T], str],
) -> T:
    """Run `edit` (which changes at most `people` and `faces`, and may create people) and
    log its undo record in the same transaction. Edits that change nothing are not logged."""
    face_ids = sorted(set(faces))
    top = _max_person(session)
    before_faces = _face_rows(session, face_ids)
    before_people = _person_rows(session, set(people) | _referenced(before_faces))
    result = edit()
    session.flush()
    after_faces = _face_rows(session, face_ids)
    created = set(
        session.scalars(select(Person.id).where(Person.id > top))
    )
    scope = set(before_people) | _referenced(after_faces) | created
    after_people = _person_rows(session, scope)
    # People outside the first snapshot were either made by the edit (absent before) or
    # only referenced by it (unchanged, so their state now is their state before).
    for pid in scope - set(before_people):
        before_people[pid] = None if pid in created else after_people[pid]
    before = _snapshot(before_people, before_faces)
    after = _snapshot(after_people, after_faces)
    if before == after:
        return result
    session.execute(delete(PeopleEdit).where(PeopleEdit.undone.is_(True)))  # a new edit ends redo
    session.add(PeopleEdit(verb=verb, label=label(result), before=before, after=after, undone=False))
    session.flush()
    old = session.scalars(select(PeopleEdit.id).order_by(PeopleEdit.id.desc()).offset(KEEP)).all()
    for part in _chunks(list(old)):
        session.execute(delete(PeopleEdit).where(PeopleEdit.id.in_(part)))
    return result


def _snapshot(people: dict[int, dict | None], faces: dict[int, dict]) -> dict:
    # JSON keys are strings; keep them so a snapshot compares equal to its stored copy.
    return {
        "people": {str(k): v for k, v in sorted(people.items())},
        "faces": {str(k): v for k, v in sorted(faces.items())},
    }


def state(session: Session) -> UndoState:
    undo = session.scalar(
        select(PeopleEdit.label).where(PeopleEdit.undone.is_(False)).order_by(PeopleEdit.id.desc()).limit(1)
    )
    redo = session.scalar(
        select(PeopleEdit.label).where(PeopleEdit.undone.is_(True)).order_by(PeopleEdit.id).limit(1)
    )
    return UndoState(undo, redo)


def undo(session: Session) -> EditUndone:
    edit = session.scalar(
        select(PeopleEdit).where(PeopleEdit.undone.is_(False)).order_by(PeopleEdit.id.desc()).limit(1)
    )
    if edit is None:
        raise LibraryError("there is no people edit to undo")
    return _apply(session, edit, redo=False)


def redo(session: Session) -> EditUndone:
    edit = session.scalar(
        select(PeopleEdit).where(PeopleEdit.undone.is_(True)).order_by(PeopleEdit.id).limit(1)
    )
    if edit is None:
        raise LibraryError("there is no undone people edit to redo")
    return _apply(session, edit, redo=True)


def _apply(session: Session, edit: PeopleEdit, *, redo: bool) -> EditUndone:
    target, other = (edit.after, edit.before) if redo else (edit.before, edit.after)
    remap = _restore(session, target, other)
    edit.undone = not redo
    session.flush()
    if remap:
        _remap_log(session, remap)
    people = {remap.get(int(k), int(k)) for k in target["people"]}
    return EditUndone(redo, edit.label, tuple(sorted(people)), tuple(sorted(int(k) for k in target["faces"])))


def _restore(session: Session, target: dict, other: dict) -> dict[int, int]:
    """Write `target` back; `other` is the state being left (it tells whether a person
    found under an id is the one the edit knew). Returns old id -> new id for people that
    had to come back under a new id because theirs was taken meanwhile."""
    remap: dict[int, int] = {}
    for key, row in target["people"].items():
        if row is None:
            continue
        pid = int(key)
        person = session.get(Person, pid)
        created = datetime.fromisoformat(row["created_at"])
        if person is not None and _iso(person.created_at) != row["created_at"]:
            person = Person(created_at=created)  # the id went to someone new: take another
            session.add(person)
            session.flush()
            remap[pid] = person.id
        elif person is None:
            person = Person(id=pid, created_at=created)
            session.add(person)
        person.name = row["name"]
        person.hidden = row["hidden"]
    session.flush()
    for key, row in target["faces"].items():
        fid = int(key)
        face = session.get(Face, fid)
        if face is None:
            continue  # its photo changed or went since: nothing left to give back
        session.execute(delete(FaceAssignment).where(FaceAssignment.face_id == fid))
        session.flush()
        for pid, st in row["assignments"]:
            session.add(FaceAssignment(face_id=fid, person_id=remap.get(pid, pid), state=st))
        decision = session.get(FaceRefDecision, fid)
        if row["decision"] is None:
            if decision is not None:
                session.delete(decision)
        else:
            value, when = row["decision"]
            if decision is None:
                decision = FaceRefDecision(face_id=fid)
                session.add(decision)
            decision.decision = value
            decision.decided_at = datetime.fromisoformat(when)
        face.needs_clustering = row["needs_clustering"]
    session.flush()
    in_scope = [int(k) for k in target["faces"]]
    for key, row in target["people"].items():
        if row is not None:
            continue
        pid = int(key)
        known = other["people"].get(key)
        person = session.get(Person, pid)
        if person is None or known is None or _iso(person.created_at) != known["created_at"]:
            continue  # gone already, or the id belongs to someone else now
        # Faces clustering gave this person meanwhile go back to clustering.
        strays = select(FaceAssignment.face_id).where(
            FaceAssignment.person_id == pid, FaceAssignment.face_id.not_in(in_scope)
        )
        for fid in session.scalars(strays).all():
            session.get_one(Face, fid).needs_clustering = True
        session.execute(delete(FaceAssignment).where(FaceAssignment.person_id == pid))
        session.delete(person)
    session.flush()
    return remap


def _remap_log(session: Session, remap: dict[int, int]) -> None:
    """A person came back under a new id: every logged snapshot must name the new one."""

    def fix(snap: dict) -> dict:
        people = {str(remap.get(int(k), int(k))): v for k, v in snap["people"].items()}
        faces = {
            k: {**v, "assignments": [[remap.get(p, p), s] for p, s in v["assignments"]]}
            for k, v in snap["faces"].items()
        }
        return {"people": people, "faces": faces}

    for edit in session.scalars(select(PeopleEdit)):
        edit.before, edit.after = fix(edit.before), fix(edit.after)
    session.flush()

