"""The first-run assistant: add folders, and what works without the ReF-LDM weights."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
)

from refldm_desktop.ui.dialogs.forms import accept_buttons, stack

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

    def __init__(self, ctx: "AppContext", parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("firstRunDialog")
        self.setWindowTitle("Welcome to ReF-LDM Desktop")
        self.setAccessibleName("Welcome: add your photo folders")
        intro = QLabel("<h3>Add the folders where your photos are</h3>")
        self.folders = QListWidget()
        self.folders.setObjectName("firstRunFolders")
        self.folders.setAccessibleName("Folders to add")
        pictures = Path.home() / "Pictures"
        if pictures.is_dir():
            self.folders.addItem(str(pictures))
        add = QPushButton("Add Folder…")
        add.setObjectName("firstRunAdd")
        add.setAccessibleName("Add a folder")
        add.clicked.connect(self._add)
        remove = QPushButton("Remove")
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
        buttons, _ = accept_buttons(self, "Add and Start", "Add these folders and start", cancel="Later")
        stack(self, intro, self.folders, row, note, buttons)
        self.resize(560, 420)

    def _add(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of photos")
        if folder:
            self.folders.addItem(folder)

    def chosen(self) -> list[Path]:
        return [Path(self.folders.item(i).text()) for i in range(self.folders.count())]

    def accept(self) -> None:
        paths = [p for p in self.chosen() if p.is_dir()]
        super().accept()
        if paths:
            self.folders_chosen.emit(paths)
