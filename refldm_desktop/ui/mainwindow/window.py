"""The main window: sidebar, pages, status bar. Menus and shortcuts live in actions.py;
the pages come from pages.py and create themselves when first shown."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QSplitter, QStackedWidget, QWidget

from refldm_desktop.ui.mainwindow import actions
from refldm_desktop.ui.mainwindow.pages import PAGES, page
from refldm_desktop.ui.mainwindow.sidebar import Sidebar
from refldm_desktop.ui.mainwindow.statusbar import StatusBar

if TYPE_CHECKING:
    # Annotations only: PySide makes an event class's Python type when it is first imported
    # (2 ms for these three), and no drop or close comes before the first paint.
    from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent

    from refldm_desktop.ui.app import OpenApp
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.dialogs.check_library import CheckLibraryDialog
    from refldm_desktop.ui.dialogs.models import ModelsDialog
    from refldm_desktop.ui.mainwindow.place import Place
    from refldm_desktop.ui.people_undo import PeopleUndo


class MainWindow(QMainWindow):
    # Set while the menus are built (mainwindow.actions and its contributors).
    menus: actions.Menus
    people_undo: PeopleUndo
    models_dialog: "ModelsDialog | None" = None  # made when first opened, then kept
    holder: "OpenApp"  # set by the OpenApp that made the window

    def __init__(self, ctx: "AppContext") -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("mainWindow")
        self.setWindowTitle("ReF-LDM Desktop")
        self.setAccessibleName("ReF-LDM Desktop")
        self.setAcceptDrops(True)
        self.resize(1200, 780)

        # Each widget is made inside its parent, from the window down. Under the app's style
        # sheet, giving a widget a parent restyles it and all of its children again: built
        # bottom-up, the grid and the sidebar were restyled up to three times each before
        # the first paint (5-8 ms of the GUI thread).
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.setObjectName("mainSplitter")
        self.setCentralWidget(split)
        self.sidebar = Sidebar(ctx, split)
        self.stack = QStackedWidget(split)
        self.stack.setObjectName("pages")
        self.stack.setAccessibleName("Page")
        self._pages: dict[str, QWidget] = {}
        split.setStretchFactor(1, 1)
        split.setSizes([220, 980])
        split.setChildrenCollapsible(False)
        self.setStatusBar(StatusBar(ctx, self))

        self.sidebar.chosen.connect(self.show_page)
        ctx.navigate.connect(self.show_page)
        ctx.tasks.failed.connect(self._task_failed)
        actions.install(self, ctx)
        self.show_page(PAGES[0].key)

    # -- pages ---------------------------------------------------------------------------

    def page_widget(self, key: str) -> QWidget:
        """The page's widget, made on first use."""
        widget = self._pages.get(key)
        if widget is None:
            widget = page(key).factory(self.ctx, self.stack)
            self._pages[key] = widget
            self.stack.addWidget(widget)
        return widget

    def show_page(self, key: str, arg: object = None) -> QWidget:
        widget = self.page_widget(key)
        if arg is None and _entry(widget, key, arg)[0] != key:
            # The page shows what belongs to another entry (the Library page a person's
            # photos); asked for by its own name (Ctrl+1), it opens at its top, as its entry does.
            arg = ""
        if arg is not None and hasattr(widget, "show_arg"):
            widget.show_arg(arg)
        self.stack.setCurrentWidget(widget)
        if hasattr(widget, "page_shown"):
            widget.page_shown()
        self.sidebar.select(*_entry(widget, key, arg))
        return widget

    def current_page(self) -> QWidget | None:
        return self.stack.currentWidget()

    def place(self) -> "Place":
        """Where the user is: the page, what it shows, what is open over it."""
        from refldm_desktop.ui.mainwindow.place import Place

        widget = self.current_page()
        key = next((k for k, w in self._pages.items() if w is widget), PAGES[0].key)
        where = getattr(widget, "place", None)
        return where(key) if where is not None else Place(key)

    def go_to(self, place: "Place") -> None:
        """Show `place`, or the nearest place to it that the library still has (the
        window of a library that went back to a backup)."""
        from refldm_desktop.ui.mainwindow.place import nearest

        lib = self.ctx.library
        self.ctx.tasks.run(lambda: nearest(lib, place), self._arrive, label="Opening where you were")

    def _arrive(self, place: "Place") -> None:
        widget = self.show_page(place.page, place.arg)
        if place.version_id is not None and hasattr(widget, "open_compare"):
            widget.open_compare(place.version_id)
        elif place.photo_id is not None and hasattr(widget, "open_photo_view"):
            widget.open_photo_view(place.photo_id)

    # -- opening and adding ----------------------------------------------------------------

    def open_paths(self, paths: list[Path]) -> None:
        """What `gui PATH...` and a drop do: add what is not in the library yet, then show
        the folder (or the photo). Paths that are not there are said, with a way to pick a
        folder (the first-run assistant on an empty library)."""
        from refldm_desktop.ui.library_ops import add_paths

        if not paths:
            return
        # Whether each path is there is asked by add_paths' worker, not here: a stale network
        # mount can hold that question for minutes.
        add_paths(self.ctx, paths,
                  on_done=self._show_opened,
                  on_missing=lambda missing, any_left: self.not_found(missing, offer=not any_left))

    def _show_opened(self, paths: list[Path], folders: set[Path]) -> None:
        if not paths:  # nothing that could be read: the status bar has said why
            return
        first = paths[0]
        if first in folders:
            self.show_page("photos", first)
        else:
            grid = self.show_page("photos", first.parent)
            if hasattr(grid, "open_photo_path"):
                grid.open_photo_path(first)

    def not_found(self, missing: list[Path], offer: bool) -> None:
        """Say which paths are not there; with `offer`, ask for a folder instead (the
        first-run assistant when the library is empty)."""
        what = ", ".join(str(p) for p in missing)
        text = f"Not found: {what}"
        self.ctx.status.emit(text)
        if offer:
            self.first_run_if_needed(not_found=text, or_ask=True)

    def first_run_if_needed(self, not_found: str = "", or_ask: bool = False) -> None:
        """An empty library: offer the short assistant that adds folders (saying first
        what was `not_found`). With `or_ask`, a library with folders is asked for one too."""

        def maybe(folders) -> None:
            if not folders:
                from refldm_desktop.ui.dialogs.first_run import FirstRunDialog

                dialog = FirstRunDialog(self.ctx, self, not_found=not_found)
                dialog.folders_chosen.connect(self.open_paths)
                dialog.open()
            elif or_ask:
                self._ask_for_folder(not_found)

        self.ctx.after_first_paint(
            lambda: self.ctx.tasks.run(self.ctx.library.folders, maybe, label="Opening the library"))

    def _ask_for_folder(self, why: str) -> None:
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(QMessageBox.Icon.Information, "Not found", why, QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("notFoundMessage")
        box.setAccessibleName("A photo or folder that was asked for is not there")
        box.setInformativeText("It may have been moved, renamed or be on a drive that is not connected. "
                               "Pick the folder where your photos are instead?")
        pick = box.addButton("Add Folder…", QMessageBox.ButtonRole.AcceptRole)
        pick.setObjectName("notFoundAddFolder")
        pick.setAccessibleName("Pick a folder of photos to add")
        close = box.addButton(QMessageBox.StandardButton.Close)
        close.setAccessibleName("Close this message")
        box.setDefaultButton(pick)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button) -> None:
            if button is pick:
                from PySide6.QtGui import QAction

                add = self.findChild(QAction, "addFolderAction")
                if add is not None:
                    add.trigger()

        box.buttonClicked.connect(answered)
        box.open()
        self.not_found_box = box

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def check_library(self, failure: str = "") -> "CheckLibraryDialog":
        """Tools › Check Library…: the library's state and backups, and the way back."""
        return self.holder.check_library(self, failure=failure)

    # -- errors and closing --------------------------------------------------------------

    def _task_failed(self, task, line: str, details: str) -> None:
        from refldm_desktop.ui.dialogs.errors import show_error

        show_error(self, line, details)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.statusBar().showMessage("Closing…")
        super().closeEvent(event)


def _entry(widget: QWidget, key: str, arg: object) -> tuple[str, object]:
    """The sidebar entry that says where the user is on the page (see pages.py)."""
    entry = getattr(widget, "sidebar_entry", None)
    return entry() if entry is not None else (key, arg)
