"""Where the user is in the window, to come back to after the window is made again (going
back to a backup), or to the nearest place that still exists in the library then: a
person the backup does not have leads to People, a folder it does not have to the whole
Library, a result it does not have to its photo."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library


class Place(NamedTuple):  # not a frozen dataclass: see models.photo_source.PhotoFilter
    page: str  # a page's key (pages.py)
    arg: object = None  # what MainWindow.show_page takes: a folder ("" for all), a person id, PersonPhotos
    photo_id: int | None = None  # a photo open over the grid (or the photo of the result compared)
    version_id: int | None = None  # a restored result being compared


def nearest(lib: "Library", place: Place) -> Place:
    """`place`, or the nearest place that exists in `lib`. Reads the library: run it on a
    worker."""
    from refldm_desktop.core.changes import NotFound
    from refldm_desktop.core.queries import PhotoQuery
    from refldm_desktop.ui.views.photos_page import PersonPhotos

    page, arg = place.page, place.arg
    person = (arg.person_id if isinstance(arg, PersonPhotos)
              else arg if page == "people" and isinstance(arg, int) else None)
    if person is not None:
        try:
            label = lib.person(person).label
        except NotFound:
            return Place("people", "")  # their photos, or their page: every person instead
        if isinstance(arg, PersonPhotos):
            arg = PersonPhotos(person, label)  # the backup may know them by another name
    if isinstance(arg, str) and arg:
        folder = Path(arg)
        if folder not in lib.folders() and not lib.photo_count(PhotoQuery(folder=folder)):
            arg = ""  # the whole library (or everything restored)
    photo_id, version_id = place.photo_id, place.version_id
    if photo_id is not None:
        try:
            lib.photo(photo_id)
        except NotFound:
            photo_id = version_id = None  # the grid it was opened from
    if version_id is not None and not any(v.id == version_id for v in lib.jobs.versions(photo_id)):
        version_id = None  # the photo itself
    return Place(page, arg, photo_id, version_id)
