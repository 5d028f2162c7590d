"""Paged queries: a view asks how many rows match and which ids come at positions
offset..offset+limit, then fetches only the rows it shows, by id.

Every count and id page is answered from indexes (migration 0005), so a library of 100,000
photos costs milliseconds per page; no query here loads every row.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from sqlalchemy import Select, bindparam, func, select, text
from sqlalchemy.orm import Session

from refldm_desktop.core.changes import LibraryError, PersonInfo, PhotoInfo
from refldm_desktop.db.models import (
    AssignmentState,
    Face,
    FaceAssignment,
    Person,
    Photo,
    PhotoState,
)

CHUNK = 500  # ids per IN (...), under SQLite's bound-parameter limit
_LIVE = (AssignmentState.SUGGESTED, AssignmentState.CONFIRMED)


class PhotoOrder(enum.StrEnum):
    TAKEN_NEWEST = "taken"  # date taken, newest first; undated photos last
    TAKEN_OLDEST = "taken-oldest"  # oldest first; undated photos last
    PATH = "path"  # by folder and file name
    QUALITY = "quality"  # the photo's worst face first (the ones restoring helps most)
    ADDED = "added"  # in the order they were indexed


class PersonOrder(enum.StrEnum):
    FACES = "faces"  # most faces first
    NAME = "name"  # named people by name, then unnamed ones by id
    ID = "id"


@dataclass(frozen=True)
class PhotoQuery:
    """Which photos, in which order. None means "do not filter on this"."""

    folder: Path | str | None = None  # photos anywhere below this folder
    person_id: int | None = None  # photos with a face of this person (suggested or confirmed)
    has_faces: bool | None = None
    restored: bool | None = None  # has a restored version
    state: str | None = None  # ok / error / missing
    order: PhotoOrder = PhotoOrder.TAKEN_NEWEST

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "order", PhotoOrder(self.order))
        except ValueError:
            choices = ", ".join(o.value for o in PhotoOrder)
            raise LibraryError(f"unknown photo order {self.order!r}: use one of {choices}") from None


def _filtered(q: PhotoQuery, stmt: Select) -> Select:
    if q.folder is not None:
        folder = os.fspath(Path(q.folder).expanduser().absolute()).rstrip(os.sep)
        low = folder + os.sep
        high = folder + chr(ord(os.sep) + 1)  # the first string after every "folder/..."
        stmt = stmt.where(Photo.path >= low, Photo.path < high)
    if q.person_id is not None:
        of_person = (
            select(Face.photo_id)
            .join(FaceAssignment, FaceAssignment.face_id == Face.id)
            .where(FaceAssignment.person_id == q.person_id, FaceAssignment.state.in_(_LIVE))
        )
        stmt = stmt.where(Photo.id.in_(of_person))
    if q.has_faces is not None:
        stmt = stmt.where(Photo.face_count > 0 if q.has_faces else Photo.face_count == 0)
    if q.restored is not None:
        stmt = stmt.where(Photo.version_count > 0 if q.restored else Photo.version_count == 0)
    if q.state is not None:
        stmt = stmt.where(Photo.state == q.state)
    return stmt


_ORDERS = {
    PhotoOrder.TAKEN_NEWEST: ("photos.taken_at DESC", "photos.id DESC"),
    PhotoOrder.TAKEN_OLDEST: ("photos.taken_at IS NULL", "photos.taken_at", "photos.id"),
    PhotoOrder.QUALITY: ("photos.min_face_quality IS NULL", "photos.min_face_quality", "photos.id"),
    PhotoOrder.PATH: ("photos.path",),
    PhotoOrder.ADDED: ("photos.id",),
}


def _ordered(q: PhotoQuery, stmt: Select) -> Select:
    # Each order matches one index exactly (migration 0005), so on the whole library a page
    # reads no more rows than offset + limit. A folder or a person selects few photos:
    # then it is faster to find those first and sort them, and a leading "+" tells SQLite
    # not to walk the order's index instead. Except a folder in path order: the path index
    # finds its photos already in that order (a "+" there sorted all 100,000 photos of a
    # folder to show its first screen: 25-35 ms instead of 1).
    few = q.person_id is not None or (q.folder is not None and q.order != PhotoOrder.PATH)
    return stmt.order_by(*(text(("+" if few else "") + term) for term in _ORDERS[q.order]))


def _page(stmt: Select, offset: int, limit: int | None) -> Select:
    if offset < 0 or (limit is not None and limit < 0):
        raise LibraryError("offset and limit cannot be negative")
    if offset:
        stmt = stmt.offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return stmt


def photo_count(s: Session, q: PhotoQuery) -> int:
    return s.scalar(_filtered(q, select(func.count()).select_from(Photo))) or 0


def photo_ids(s: Session, q: PhotoQuery, offset: int = 0, limit: int | None = None) -> list[int]:
    stmt = _page(_ordered(q, _filtered(q, select(Photo.id))), offset, limit)
    return list(s.scalars(stmt))


def _chunks(ids: Sequence[int]):
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


_PHOTO_COLUMNS = (
    Photo.id, Photo.path, Photo.state, Photo.error, Photo.size, Photo.mtime_ns, Photo.content_hash,
    Photo.width, Photo.height, Photo.format, Photo.taken_at, Photo.orientation, Photo.backend,
    Photo.face_count, Photo.min_face_quality, Photo.version_count,
)


# Plain rows, not ORM objects, and one cached statement: a page loads in milliseconds.
_PHOTOS_BY_ID = select(*_PHOTO_COLUMNS).where(Photo.id.in_(bindparam("ids", expanding=True)))


def _rows_by_id(s: Session, stmt: Select, ids: Sequence[int], make) -> list:
    """make(row) for the rows with these ids (the first column), in the order given;
    unknown ids are left out."""
    ids = [int(i) for i in ids]
    found = {}
    for part in _chunks(ids):
        for r in s.execute(stmt, {"ids": part}):
            found[r[0]] = make(r)
    return [found[i] for i in ids if i in found]


def photos_by_id(s: Session, ids: Sequence[int]) -> list[PhotoInfo]:
    return _rows_by_id(
        s, _PHOTOS_BY_ID, ids,
        lambda r: PhotoInfo(r[0], Path(r[1]), *r[2:]),  # _PHOTO_COLUMNS follow PhotoInfo's fields
    )


# -- people --------------------------------------------------------------------------------


def _people(include_hidden: bool) -> Select:
    stmt = select(Person.id)
    if not include_hidden:
        stmt = stmt.where(Person.hidden.is_(False))
    return stmt


def person_count(s: Session, include_hidden: bool = True) -> int:
    return s.scalar(select(func.count()).select_from(_people(include_hidden).subquery())) or 0


def person_ids(
    s: Session, include_hidden: bool = True, order: PersonOrder | str = PersonOrder.FACES,
    offset: int = 0, limit: int | None = None,
) -> list[int]:
    try:
        order = PersonOrder(order)
    except ValueError:
        choices = ", ".join(o.value for o in PersonOrder)
        raise LibraryError(f"unknown order of people {order!r}: use one of {choices}") from None
    stmt = _people(include_hidden)
    if order is PersonOrder.FACES:
        stmt = stmt.order_by(Person.face_count.desc(), Person.id.desc())
    elif order is PersonOrder.NAME:
        stmt = stmt.order_by(Person.name.is_(None), func.lower(Person.name), Person.id)
    else:
        stmt = stmt.order_by(Person.id)
    return list(s.scalars(_page(stmt, offset, limit)))


_PERSON_COLUMNS = (
    Person.id, Person.name, Person.hidden, Person.face_count, Person.confirmed_count, Person.created_at,
)


_PEOPLE_BY_ID = select(*_PERSON_COLUMNS).where(Person.id.in_(bindparam("ids", expanding=True)))


def people_by_id(s: Session, ids: Sequence[int]) -> list[PersonInfo]:
    return _rows_by_id(s, _PEOPLE_BY_ID, ids, lambda r: PersonInfo(*r))


def all_people(s: Session, include_hidden: bool = True) -> list[PersonInfo]:
    stmt = select(*_PERSON_COLUMNS).order_by(Person.id)
    if not include_hidden:
        stmt = stmt.where(Person.hidden.is_(False))
    return [PersonInfo(*r) for r in s.execute(stmt)]


def cover_face(s: Session, person_id: int) -> int | None:
    """The person's best-scored face: the highest quality score (unscored faces last), then
    the detector's confidence. Faces whose photo can be read come first, so that a tile
    does not show a placeholder while a readable face exists. None when the person has no
    faces."""
    return s.scalar(
        select(Face.id)
        .join(FaceAssignment, FaceAssignment.face_id == Face.id)
        .join(Photo, Photo.id == Face.photo_id)
        .where(FaceAssignment.person_id == person_id, FaceAssignment.state.in_(_LIVE))
        .order_by(
            Photo.state != PhotoState.OK,
            Face.quality_score.is_(None),
            Face.quality_score.desc(),
            Face.score.desc(),
            Face.id,
        )
        .limit(1)
    )
