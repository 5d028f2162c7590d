"""The sidebar: one entry per page, the library's folders under the Library page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QMenu, QTreeWidget, QTreeWidgetItem, QWidget

from refldm_desktop.ui.keys import with_key
from refldm_desktop.ui.mainwindow.pages import PAGES
from refldm_desktop.ui.resources import icon

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext

KEY = Qt.ItemDataRole.UserRole
ARG = Qt.ItemDataRole.UserRole + 1
# Changes that may add a folder come in bursts (indexing announces every commit, a batch
# every restored photo): the folders are listed once per burst, this long after its first change.
FOLDERS_MS = 500


class Sidebar(QTreeWidget):
    chosen = Signal(str, object)  # page key, argument (a folder for the Library page)

    def __init__(self, ctx: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("sidebar")
        self.setAccessibleName("Sidebar")
        self.setAccessibleDescription("Pages of the app and the library's folders")
        self.setHeaderHidden(True)
        self.setRootIsDecorated(False)
        self.setIndentation(14)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._items: dict[str, QTreeWidgetItem] = {}
        for spec in PAGES:
            item = QTreeWidgetItem([spec.title])
            item.setData(0, KEY, spec.key)
            # The page's top: every photo (not the last folder), every person (not the last
            # person's page). See pages.py.
            item.setData(0, ARG, "")
            item.setIcon(0, icon(spec.icon))
            item.setToolTip(0, with_key(spec.title, spec.shortcut))
            self.addTopLevelItem(item)
            self._items[spec.key] = item
        self.itemSelectionChanged.connect(self._selected)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self._folders_timer = QTimer(self)
        self._folders_timer.setSingleShot(True)
        self._folders_timer.setInterval(FOLDERS_MS)
        self._folders_timer.timeout.connect(self.refresh_folders)
        ctx.changed.connect(self._on_change)
        ctx.after_first_paint(self.refresh_folders)

    def select(self, key: str, arg: object = None) -> None:
        item = self._items.get(key)
        if item is None:
            return
        if arg is not None:
            for i in range(item.childCount()):
                child = item.child(i)
                if child is not None and child.data(0, ARG) == str(arg):
                    item = child
                    break
        self.blockSignals(True)
        self.setCurrentItem(item)
        self.blockSignals(False)

    def refresh_folders(self) -> None:
        self.ctx.tasks.run(self.ctx.library.folders, self._set_folders, label="Listing folders")

    def _set_folders(self, folders: list[Path]) -> None:
        for spec in PAGES:
            if not spec.folders:
                continue
            parent = self._items[spec.key]
            listed = [child.data(0, ARG) for i in range(parent.childCount()) if (child := parent.child(i)) is not None]
            if listed == [str(f) for f in folders]:
                continue  # the same folders: the items (and the selection) stay
            current = self.currentItem()
            current_arg = current.data(0, ARG) if current is not None else None
            self.blockSignals(True)
            parent.takeChildren()
            for folder in folders:
                child = QTreeWidgetItem([folder.name or str(folder)])
                child.setData(0, KEY, spec.key)
                child.setData(0, ARG, str(folder))
                child.setToolTip(0, str(folder))
                child.setIcon(0, icon("folder.svg"))
                parent.addChild(child)
                if current_arg == str(folder):
                    self.setCurrentItem(child)
            parent.setExpanded(True)
            self.blockSignals(False)

    def _on_change(self, change) -> None:
        # Only a change to photos can add a folder. Whatever else a change names (a
        # restore's version) cannot rule that out, so a burst of restores costs one listing
        # per FOLDERS_MS, and an unchanged list leaves the items alone.
        if "photos" in change.areas and not self._folders_timer.isActive():
            self._folders_timer.start()

    def _menu(self, pos: QPoint) -> None:
        item = self.itemAt(pos)
        folder = item.data(0, ARG) if item is not None else None
        if folder:
            menu = self.folder_menu(Path(folder))
            menu.exec(self.viewport().mapToGlobal(pos))
            menu.deleteLater()  # one per right-click: not kept for the sidebar's life

    def folder_menu(self, folder: Path) -> QMenu:
        """A folder's right-click menu (the place the app's error advice sends users to)."""
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        a = menu.addAction("Rescan Folder", lambda: self.rescan(folder))
        a.setObjectName("rescanFolderAction")
        a.setToolTip(
            "Read the folder again: new, changed, moved and missing photos. A photo changed on disk "
            "has its faces found again: a face still in its place keeps its name and pin"
        )
        return menu

    def rescan(self, folder: Path) -> None:
        """Index the folder again, as adding it does (the app's words for `index FOLDER`)."""
        from refldm_desktop.ui.library_ops import rescan_folder

        rescan_folder(self.ctx, folder, label=f"Rescanning {folder.name or folder}")

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        # A click on the entry already chosen goes there again: back to every photo from a
        # photo opened over the grid, to every person from a person's page or photos, which
        # a selection change never tells.
        before = self.currentItem()
        super().mousePressEvent(event)
        item = self.itemAt(event.position().toPoint())
        if item is not None and item is before and event.button() == Qt.MouseButton.LeftButton:
            self._selected()

    def _selected(self) -> None:
        item = self.currentItem()
        if item is not None:
            self.chosen.emit(item.data(0, KEY), item.data(0, ARG))
