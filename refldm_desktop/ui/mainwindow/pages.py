"""The pages of the sidebar, in order. Each page is a factory taking the AppContext and the
page's parent (the window's stack of pages) and returning a QWidget made inside that parent
(made first and added after, a page was restyled with all its children: see MainWindow);
add a page by adding a PageSpec here.

A page widget may have `show_arg(arg)` to open at something (a folder, a person id) when
the window navigates to it, and `page_shown()` to refresh when it becomes visible. Its
sidebar entry passes "" as the argument: the page's top (every photo, every person).
A page that can show what belongs to another entry (the Library page showing a person's
photos: People) has `sidebar_entry() -> (key, arg)`, the entry that says where the user is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from refldm_desktop.ui.context import AppContext


class PageSpec(NamedTuple):  # not a frozen dataclass: see models.photo_source.PhotoFilter
    key: str  # stable name: ctx.navigate.emit(key, arg) opens it
    title: str
    factory: Callable[["AppContext", "QWidget"], "QWidget"]  # (ctx, parent) -> the page
    icon: str = ""  # a file name under resources/icons
    shortcut: str = ""  # e.g. "Ctrl+1"
    folders: bool = False  # the library's folders are listed under it in the sidebar


def _photos(ctx: "AppContext", parent: "QWidget") -> "QWidget":
    from refldm_desktop.ui.views.photos_page import PhotosPage

    return PhotosPage(ctx, parent)


def _restored(ctx: "AppContext", parent: "QWidget") -> "QWidget":
    from refldm_desktop.ui.views.photos_page import PhotosPage

    return PhotosPage(ctx, restored=True, parent=parent)


def _people(ctx: "AppContext", parent: "QWidget") -> "QWidget":
    from refldm_desktop.ui.views.people_page import PeoplePage

    return PeoplePage(ctx, parent)


def _unknown(ctx: "AppContext", parent: "QWidget") -> "QWidget":
    from refldm_desktop.ui.views.unknown_faces import UnknownFacesPage

    return UnknownFacesPage(ctx, parent)


def _jobs(ctx: "AppContext", parent: "QWidget") -> "QWidget":
    from refldm_desktop.ui.views.jobs_panel import JobsPanel

    return JobsPanel(ctx, parent)


PAGES: list[PageSpec] = [
    PageSpec("photos", "Library", _photos, icon="photos.svg", shortcut="Ctrl+1", folders=True),
    PageSpec("people", "People", _people, icon="people.svg", shortcut="Ctrl+2"),
    PageSpec("unknown", "Unknown Faces", _unknown, icon="unknown.svg", shortcut="Ctrl+3"),
    PageSpec("restored", "Restored", _restored, icon="restored.svg", shortcut="Ctrl+4"),
    PageSpec("jobs", "Jobs", _jobs, icon="jobs.svg", shortcut="Ctrl+5"),
]


def page(key: str) -> PageSpec:
    for spec in PAGES:
        if spec.key == key:
            return spec
    raise KeyError(key)
