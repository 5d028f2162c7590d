"""The first-run assistant: add folders, and what works without the ReF-LDM weights."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
)

from refldm_desktop.ui.dialogs.forms import accept_buttons, stack
from refldm_desktop.ui.views.empty_hint import EmptyHint

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext

WITHOUT_WEIGHTS = (
    "<p><b>Works right away:</b> finding faces, grouping them into people, naming and "
    "correcting people, and choosing each person's best photos as references.</p>"
    "<p><b>Needs the ReF-LDM weights</b> (about 2 GB, for non-commercial research use): "
    "restoring faces. Get them with <i>Tools → Models…</i> or on the command line with "
    "<code>refldm-desktop models install</code>; files you already have can be imported "
    "there too.</p>"
    "<p>Your photos are only ever read; restored copies are new files.</p>"
)


class FirstRunDialog(QDialog):
    folders_chosen = Signal(list)  # [Path]

    def __init__(self, ctx: "AppContext", parent=None, not_found: str = "") -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("firstRunDialog")
        self.setWindowTitle("Welcome to ReF-LDM Desktop")
        self.setAccessibleName("Welcome: add your photo folders")
        intro = QLabel("<h3>Add the folders where your photos are</h3>")
        # What the user (or the README's command) asked to open and is not there.
        self.not_found = QLabel(f"{not_found}. Add the folder where your photos are instead." if not_found else "")
        self.not_found.setObjectName("firstRunNotFound")
        self.not_found.setAccessibleName("A photo or folder that was asked for is not there")
        self.not_found.setWordWrap(True)
        self.not_found.setTextFormat(Qt.TextFormat.PlainText)
        self.not_found.setVisible(bool(not_found))
        self.folders = QListWidget()
        self.folders.setObjectName("firstRunFolders")
        self.folders.setAccessibleName("Folders to add")
        self.folders.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.empty = EmptyHint(self.folders, "firstRunEmpty")
        self.empty.set_text("No folders yet: click Add Folder… or drop folders here.")
        pictures = Path.home() / "Pictures"
        if pictures.is_dir():
            self.folders.addItem(str(pictures))
        # The dialog is modal, so the window under it takes no drops meanwhile: it does.
        self.setAcceptDrops(True)
        add = QPushButton("Add Folder…")
        add.setObjectName("firstRunAdd")
        add.setAccessibleName("Add a folder")
        add.clicked.connect(self._add)
        self.remove = remove = QPushButton("Remove")
        remove.setObjectName("firstRunRemove")
        remove.setAccessibleName("Remove the selected folder")
        remove.clicked.connect(lambda: [self.folders.takeItem(self.folders.row(i)) for i in self.folders.selectedItems()])
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        row.addStretch(1)
        note = QLabel(WITHOUT_WEIGHTS)
        note.setObjectName("firstRunNote")
        note.setWordWrap(True)
        note.setTextFormat(Qt.TextFormat.RichText)
        buttons, self.start = accept_buttons(self, "Add and Start", "Add these folders and start", cancel="Later")
        stack(self, intro, self.not_found, self.folders, row, note, buttons)
        self.resize(560, 420)
        # Nothing to start with no folder; Remove only what is selected.
        model = self.folders.model()
        for signal in (model.rowsInserted, model.rowsRemoved):
            signal.connect(self._update_buttons)
        self.folders.itemSelectionChanged.connect(self._update_buttons)
        self._update_buttons()

    def _update_buttons(self, *_) -> None:
        self.start.setEnabled(self.folders.count() > 0)
        self.remove.setEnabled(bool(self.folders.selectedItems()))

    def _add(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of photos")
        if folder:
            self.add_folder(Path(folder))

    def add_folder(self, folder: Path) -> None:
        if str(folder) not in (self.folders.item(i).text() for i in range(self.folders.count())):
            self.folders.addItem(str(folder))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(Path(u.toLocalFile()).is_dir() for u in event.mimeData().urls() if u.isLocalFile()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile() and Path(url.toLocalFile()).is_dir():
                self.add_folder(Path(url.toLocalFile()))
        event.acceptProposedAction()

    def chosen(self) -> list[Path]:
        return [Path(self.folders.item(i).text()) for i in range(self.folders.count())]

    def accept(self) -> None:
        paths = [p for p in self.chosen() if p.is_dir()]
        super().accept()
        if paths:
            self.folders_chosen.emit(paths)
