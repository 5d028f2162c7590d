"""What the photo grid asks the core: which photo ids match a filter, and those photos,
through the core's paged queries (PhotoQuery), read with its plain sqlite3 reader
(`Library.reader`) so that a worker reading them hands the GIL back to the GUI thread every
few hundred rows. Runs on a worker thread, except `photos_now`: the rows of a page being
painted, a quick lookup by id that gives up at once when the database is busy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Sequence

from refldm_desktop.core.reader import PhotoSummary

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library


class PhotoFilter(NamedTuple):
    """Which photos a grid shows. (A NamedTuple, as the app's other small values made
    before its first paint: a frozen dataclass takes about 1 ms to define.)"""

    folder: Path | None = None  # photos under this folder (any depth)
    person_id: int | None = None
    restored: bool = False  # only photos that have a restored version


# What the grid shows of a photo (id, path, state, width, height, face_count).
PhotoRow = PhotoSummary


def _query(f: PhotoFilter):
    from refldm_desktop.core.queries import PhotoOrder, PhotoQuery

    # By folder and name: the sidebar browses folders, and the order never jumps around
    # while photos are added.
    return PhotoQuery(folder=f.folder, person_id=f.person_id, restored=True if f.restored else None, order=PhotoOrder.PATH)


def _reader(lib: "Library"):
    return getattr(lib, "reader", None)


def photo_count(lib: "Library", f: PhotoFilter) -> int:
    reader = _reader(lib)
    return reader.photo_count(_query(f)) if reader is not None else lib.photo_count(_query(f))


def photo_ids(lib: "Library", f: PhotoFilter, offset: int = 0, limit: int | None = None) -> list[int]:
    """The ids matching the filter, in the grid's order (offset..offset+limit of them)."""
    reader = _reader(lib)
    source = reader if reader is not None else lib
    return list(source.photo_ids(_query(f), offset, limit))


def first_screen(lib: "Library", f: PhotoFilter, n: int) -> tuple[int, list[int], dict[int, PhotoRow]]:
    """The filter's count, its first `n` ids and their rows: what the grid paints first.
    Read in one go, not handing the GIL over between batches: the GUI thread is waiting
    for this, and a few hundred rows hold the GIL under a millisecond."""
    reader = _reader(lib)
    if reader is None:
        ids = photo_ids(lib, f, 0, n)
        rows = photos_by_id(lib, ids)
    else:
        ids = reader.photo_ids(_query(f), 0, n, pause=False)
        rows = {r.id: r for r in reader.summaries(ids, pause=False)}
    # A short first page is the whole list: no need to count (a folder's count walks its
    # part of the path index, 5-10 ms for 100,000 photos).
    return (photo_count(lib, f) if len(ids) == n else len(ids)), ids, rows


def photos_now(lib: "Library", ids: Sequence[int]) -> dict[int, PhotoRow] | None:
    """The rows of a page being painted, read on the calling (GUI) thread: a lookup by
    primary key of a few hundred rows, under a millisecond. None when it cannot be quick
    (no reader, or the database is locked): then the worker reads them."""
    import sqlite3

    from refldm_desktop.core.changes import LibraryError

    reader = _reader(lib)
    if reader is None:
        return None
    try:
        return {r.id: r for r in reader.summaries(list(ids), quick=True)}
    except (sqlite3.Error, LibraryError):
        return None


def photos_by_id(lib: "Library", ids: Sequence[int]) -> dict[int, PhotoRow]:
    reader = _reader(lib)
    if reader is not None:
        return {r.id: r for r in reader.summaries(list(ids))}
    return {
        p.id: PhotoRow(p.id, str(p.path), str(p.state), p.width, p.height, int(getattr(p, "face_count", 0) or 0))
        for p in lib.photos_by_id(list(ids))
    }
