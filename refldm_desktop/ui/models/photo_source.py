"""What the photo grid asks the core: which photo ids match a filter, and those photos.

The core's paged queries (PhotoQuery, photo_ids, photos_by_id) are used when the Library
has them; until then this falls back on `Library.photos()`, filtered here.
Runs on a worker thread, never on the GUI thread.
"""

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


def _row(info) -> PhotoRow:
    return PhotoRow(info.id, Path(info.path), str(info.state), info.width, info.height, int(getattr(info, "face_count", 0) or 0))


def _core_query(lib: "Library", f: PhotoFilter):
    try:
        from refldm_desktop.core.queries import PhotoQuery  # type: ignore[import-not-found]
    except ImportError:
        try:
            from refldm_desktop.core.library import PhotoQuery  # type: ignore[attr-defined]
        except ImportError:
            return None
    if not hasattr(lib, "photo_ids") or not hasattr(lib, "photos_by_id"):
        return None
    return PhotoQuery(folder=f.folder, person_id=f.person_id, restored=f.restored or None)


def photo_ids(lib: "Library", f: PhotoFilter) -> list[int]:
    """All ids matching the filter, in the grid's order (by path)."""
    q = _core_query(lib, f)
    if q is not None:
        return list(lib.photo_ids(q))
    rows = lib.photos()
    if f.folder is not None:
        root = Path(f.folder)
        rows = [r for r in rows if root in Path(r.path).parents]
    if f.person_id is not None:
        have = {face.photo_id for face in lib.faces(f.person_id)}
        rows = [r for r in rows if r.id in have]
    if f.restored:
        have = {v.photo_id for v in lib.jobs.versions()}
        rows = [r for r in rows if r.id in have]
    return [r.id for r in rows]


def photos_by_id(lib: "Library", ids: Sequence[int]) -> dict[int, PhotoRow]:
    if _core_query(lib, PhotoFilter()) is not None:
        return {p.id: _row(p) for p in lib.photos_by_id(list(ids))}
    wanted = set(ids)
    return {r.id: _row(r) for r in lib.photos() if r.id in wanted}
