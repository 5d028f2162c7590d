"""What the photo grid asks the core: which photo ids match a filter, and those photos,
through the core's paged queries (PhotoQuery, photo_ids, photos_by_id). Runs on a worker
thread, never on the GUI thread."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library


@dataclass(frozen=True)
class PhotoFilter:
    folder: Path | None = None  # photos under this folder (any depth)
    person_id: int | None = None
    restored: bool = False  # only photos that have a restored version


@dataclass(frozen=True)
class PhotoRow:
    """What the grid shows of a photo."""

    id: int
    path: Path
    state: str
    width: int | None
    height: int | None
    face_count: int


def _query(f: PhotoFilter):
    from refldm_desktop.core.queries import PhotoOrder, PhotoQuery

    # By folder and name: the sidebar browses folders, and the order never jumps around
    # while photos are added.
    return PhotoQuery(folder=f.folder, person_id=f.person_id, restored=True if f.restored else None, order=PhotoOrder.PATH)


def photo_ids(lib: "Library", f: PhotoFilter) -> list[int]:
    """All ids matching the filter, in the grid's order."""
    return list(lib.photo_ids(_query(f)))


def photos_by_id(lib: "Library", ids: Sequence[int]) -> dict[int, PhotoRow]:
    return {
        p.id: PhotoRow(p.id, Path(p.path), str(p.state), p.width, p.height, int(getattr(p, "face_count", 0) or 0))
        for p in lib.photos_by_id(list(ids))
    }
