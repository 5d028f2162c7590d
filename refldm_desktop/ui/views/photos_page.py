"""The Library and Restored pages: the photo grid, and a photo's view over it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLabel, QStackedWidget, QToolButton, QVBoxLayout, QWidget

from refldm_desktop.ui.models.photo_source import PhotoFilter
from refldm_desktop.ui.models.photos import PhotoListModel
from refldm_desktop.ui.thumbnails import ThumbnailCache
from refldm_desktop.ui.views.heading import heading, page_title
from refldm_desktop.ui.views.photo_grid import PhotoGrid
from refldm_desktop.ui.views.when_shown import WhenShown

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.mainwindow.place import Place
    from refldm_desktop.ui.views.compare import CompareView
    from refldm_desktop.ui.views.empty_hint import EmptyHint
    from refldm_desktop.ui.views.photo_view import PhotoView


class OpenVersion(NamedTuple):
    """Where to navigate (ctx.navigate) to compare a restored version, e.g. from Jobs.
    (NamedTuples: see models.photo_source.PhotoFilter.)"""

    version_id: int


class OpenPreview(NamedTuple):
    """Where to navigate to see the quick preview of a restore still running."""

    photo_id: int
    path: Path


class PersonPhotos(NamedTuple):
    """Where to navigate to see every photo a person is in (a person's page, Photos)."""

    person_id: int
    label: str  # the person's name, or "Person 12": the grid's title names them


def empty_text(restored: bool, folder: Path | None, person: bool = False) -> str:
    """Why a grid is empty, and what to do about it."""
    if restored:
        from refldm_desktop.ui.keys import with_key
        from refldm_desktop.ui.mainwindow.actions import photo_verb

        restore = with_key("Restore Faces", photo_verb("restore").shortcut)
        return (f"Nothing restored yet.\n\nRight-click a photo in the Library and choose {restore}; "
                "the restored copies are listed here.")
    if person:  # adding folders is not what a person's empty grid lacks
        return ("No photos of this person.\n\nA photo is listed here once one of its faces is put in this person, "
                "on the People or Unknown Faces page.")
    if folder is not None:
        return f"No photos in {folder.name} yet.\n\nPhotos appear here as the folder is indexed."
    from refldm_desktop.ui.mainwindow.actions import add_folder_words

    return (f"No photos yet.\n\nAdd a folder with {add_folder_words()}, or drop folders or photos onto "
            "this window; photos appear here as they are indexed.")


class PhotosPage(QWidget):
    def __init__(self, ctx: "AppContext", parent: QWidget | None = None, *, restored: bool = False) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.restored = restored
        self.setObjectName("restoredPage" if restored else "photosPage")
        self.setAccessibleName("Restored photos" if restored else "Library")
        self.title = page_title()
        self._person_label = ""  # the title's name for the person whose photos are listed
        self.count = QLabel()
        self.count.setObjectName("photoCount")
        self.count.setAccessibleName("Number of photos")
        # Over a person's photos: back to their page, where the Photos button was.
        self.person_back = QToolButton()
        self.person_back.setObjectName("personPhotosBack")
        self.person_back.setAccessibleName("Back to the person's page")
        self.person_back.setShortcut(QKeySequence("Alt+Left"))
        self.person_back.clicked.connect(self._back_to_person)
        self.person_back.hide()
        from refldm_desktop.ui.views.photo_grid import THUMB_SIZE

        self.thumbs = ThumbnailCache(ctx.library, self, display=THUMB_SIZE, device_pixel_ratio=self.devicePixelRatioF())
        self.model = PhotoListModel(ctx, self.thumbs, self)
        # The grid is made inside its parents (see MainWindow: under the style sheet, each
        # new parent restyled the grid with all its children).
        self.stack = QStackedWidget(self)
        self.grid = PhotoGrid(self.stack)
        if restored:
            self.grid.setObjectName("restoredGrid")
            self.grid.setAccessibleName("Restored photos")
        self.grid.setModel(self.model)
        self.empty: EmptyHint | None = None  # made when the grid is first empty (_update_title)
        self.grid.opened.connect(self.open_photo)
        self.grid.menu_requested.connect(self._menu)
        self.photo_view: PhotoView | None = None  # made when first opened
        self.compare_view: CompareView | None = None
        self.stack.addWidget(self.grid)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 0)
        layout.addLayout(heading(self.title, self.count, self.person_back))
        layout.addWidget(self.stack, 1)

        self.model.loaded.connect(self._update_title)
        self.grid.painted.connect(ctx.first_paint_done)
        self.grid.verticalScrollBar().valueChanged.connect(ctx.user_active)
        # A change while the page is hidden (the user on another page) is read once it is
        # shown again: the whole list then, not each change's photos as they come.
        self._when_shown = WhenShown(self, self._catch_up)
        ctx.changed.connect(self._on_change)
        ctx.on_close(self.thumbs.close)
        ctx.after_first_paint(self.thumbs.start)
        # Nothing is listed until the page is first on screen: the shortcuts list builds
        # every page only to read its keys, and must not make it list a large library.
        self._started = False

    # -- navigation ----------------------------------------------------------------------

    def show_arg(self, arg: object) -> None:
        if isinstance(arg, OpenVersion):
            self.open_compare(arg.version_id)
        elif isinstance(arg, OpenPreview):
            self.open_compare_preview(arg.photo_id, arg.path, None)
        elif isinstance(arg, PersonPhotos):
            self._person_label = arg.label
            self._started = True
            self._when_shown.refreshed()  # a new filter lists its photos afresh
            self.model.set_filter(PhotoFilter(person_id=arg.person_id, restored=self.restored))
            self.show_grid()
        else:
            self.set_folder(Path(str(arg)) if arg else None)

    def sidebar_entry(self) -> tuple[str, object]:
        """A person's photos are the People entry's (as in digiKam and Immich); else this
        page's own entry, or its folder."""
        f = self.model.filter
        if f.person_id is not None:
            return "people", None
        return ("restored" if self.restored else "photos"), (str(f.folder) if f.folder else "")

    def place(self, key: str) -> "Place":
        """Where the user is on this page (MainWindow.place)."""
        from refldm_desktop.ui.mainwindow.place import Place

        f = self.model.filter
        arg = PersonPhotos(f.person_id, self._person_label) if f.person_id is not None else str(f.folder or "")
        current, view, compare = self.stack.currentWidget(), self.photo_view, self.compare_view
        if view is not None and current is view and view.photo_id is not None:
            return Place(key, arg, photo_id=view.photo_id)
        if compare is not None and current is compare and compare.loaded is not None:
            version = compare.loaded.version
            return Place(key, arg, photo_id=version.photo_id, version_id=version.id)
        return Place(key, arg)

    def showEvent(self, event) -> None:
        if not self._started:  # whole library; show_arg may have opened a view over the grid
            self._load(None)
        super().showEvent(event)

    def set_folder(self, folder: Path | None) -> None:
        self._load(folder)
        self.show_grid()

    def _load(self, folder: Path | None) -> None:
        self._started = True
        self._when_shown.refreshed()  # a new filter lists its photos afresh
        self.model.set_filter(PhotoFilter(folder=folder, restored=self.restored))

    def show_grid(self) -> None:
        self.stack.setCurrentWidget(self.grid)
        self.grid.setFocus()
        self._update_heading()

    def open_photo(self, photo_id: int) -> None:
        if self.restored:
            from refldm_desktop.ui.views.photo_menu import compare_latest

            compare_latest(self, photo_id)
        else:
            self.open_photo_view(photo_id)

    def open_photo_view(self, photo_id: int) -> None:
        if self.photo_view is None:
            from refldm_desktop.ui.views.photo_view import PhotoView

            self.photo_view = PhotoView(self.ctx)
            self.photo_view.back.connect(self.show_grid)
            self.photo_view.heading_changed.connect(self._update_heading)
            self.stack.addWidget(self.photo_view)
        self.photo_view.show_photo(photo_id)
        self.stack.setCurrentWidget(self.photo_view)
        self._update_heading()

    def _compare(self):
        if self.compare_view is None:
            from refldm_desktop.ui.views.compare import CompareView

            self.compare_view = CompareView(self.ctx)
            self.compare_view.back.connect(self.show_grid)
            self.compare_view.heading_changed.connect(self._update_heading)
            self.stack.addWidget(self.compare_view)
        self.stack.setCurrentWidget(self.compare_view)
        return self.compare_view

    def open_compare(self, version_id: int) -> None:
        self._compare().show_version(version_id)
        self._update_heading()

    def open_compare_preview(self, photo_id: int, preview: Path, steps: int | None, job_id: int | None = None) -> None:
        """A quick preview of a restore in progress (the job `job_id`); its result replaces it
        (open_compare)."""
        self._compare().show_preview(photo_id, preview, steps, job_id)
        self._update_heading()

    def open_photo_path(self, path: Path) -> None:
        """Select (and open) a photo once the grid has it."""

        def select() -> None:
            self.model.loaded.disconnect(select)
            for row in range(self.model.rowCount()):
                r = self.model.photo_row(row)
                if r is not None and r.path == path:
                    self.open_photo(r.id)
                    return
            lib = self.ctx.library
            self.ctx.tasks.run(lambda: lib.jobs.photo_id(path), self.open_photo, label="Finding the photo")

        self.model.loaded.connect(select)

    def selected_photo_ids(self) -> list[int]:
        """The photos the Photo menu acts on: the open photo, else the grid's selection."""
        current = self.stack.currentWidget()
        view, compare = self.photo_view, self.compare_view
        if view is not None and current is view and view.photo_id is not None:
            return [view.photo_id]
        if compare is not None and current is compare and compare.loaded is not None:
            pid = compare.loaded.version.photo_id
            return [pid] if pid is not None else []
        return self.grid.selected_ids()

    def _update_heading(self) -> None:
        """The page's title says what is on screen: a photo or a comparison opened over the
        grid has its own (it once kept the grid's "All photos"); the count is the grid's."""
        current = self.stack.currentWidget()
        over = current if current is not self.grid else None
        heading = getattr(over, "heading", None)
        self.title.setText(heading if heading is not None else self._grid_title())
        self.count.setVisible(over is None)
        person = self.model.filter.person_id is not None and over is None
        if person:
            who = self._person_label or f"Person {self.model.filter.person_id}"
            self.person_back.setText(f"← {who}")
            self.person_back.setAccessibleName(f"Back to the page of {who}")
            from refldm_desktop.ui.keys import with_key

            self.person_back.setToolTip(with_key(f"Back to the page of {who}", self.person_back.shortcut()))
        self.person_back.setVisible(person)

    def _back_to_person(self) -> None:
        pid = self.model.filter.person_id
        if pid is not None:
            self.ctx.navigate.emit("people", pid)

    def _grid_title(self) -> str:
        f = self.model.filter
        if f.person_id is not None:
            return f"Photos of {self._person_label or f'Person {f.person_id}'}"
        return "Restored" if self.restored else (f.folder.name if f.folder else "All photos")

    def _update_title(self) -> None:
        self._update_heading()
        f = self.model.filter
        n = self.model.rowCount()
        self.count.setText(f"{n:,} photo{'s' if n != 1 else ''}")
        if self.empty is None:
            if n:
                return  # nothing to say over a full grid
            # Made when first needed: its first look at the grid's viewport makes PySide build
            # the Python types of every Qt widget class (65 enums, 10-16 ms here), which the
            # first paint of a full grid should not wait for.
            from refldm_desktop.ui.views.empty_hint import EmptyHint

            self.empty = EmptyHint(self.grid, "restoredEmpty" if self.restored else "photosEmpty")
        self.empty.set_text(empty_text(self.restored, f.folder, person=f.person_id is not None))

    def _on_change(self, change) -> None:
        pid = self.model.filter.person_id
        named = change.ids.get("people") if not change.external else None
        label = pid is not None and "people" in change.areas and (named is None or pid in named)
        listed = self._started and self.model.concerned(change)
        if not (label or listed):
            return
        if not self.isVisible():
            self._when_shown.changed()  # marks it out of date
            return
        if listed:
            self.model.on_change(change)
        if label and pid is not None:
            self._read_person_label(pid)

    def _catch_up(self) -> None:
        """Shown again after changes came while it was hidden."""
        if self._started:
            self.model.schedule_reload()
        pid = self.model.filter.person_id
        if pid is not None:
            self._read_person_label(pid)

    def _read_person_label(self, person_id: int) -> None:
        """A person's photos follow their name: renamed, or the rename undone."""
        lib = self.ctx.library

        def read() -> str | None:
            from refldm_desktop.core.changes import NotFound

            try:
                return lib.person(person_id).label
            except NotFound:  # merged into someone else: the grid says it is empty
                return None

        def got(label: str | None) -> None:
            if label is not None and self.model.filter.person_id == person_id:
                self._person_label = label
                self._update_heading()

        self.ctx.tasks.run(read, got, label="Reading a person's name")

    def _menu(self, ids: list[int], pos) -> None:
        from PySide6.QtCore import Qt

        from refldm_desktop.ui.views.photo_menu import photo_menu

        menu = photo_menu(self, ids)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one per right-click: freed when closed
        menu.popup(pos)
