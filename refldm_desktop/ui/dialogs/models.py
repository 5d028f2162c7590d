"""The Models dialog: installed ReF-LDM models, install the authors' release (download,
resumable, licence shown first) and import files already on disk.

Over refldm_desktop.restore.refldm today; the core's models facade replaces these calls when
it lands (same verbs: list, install, import).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext


def release_terms() -> str:
    """What the user agrees to before downloading: title, where it comes from, the licence."""
    data = json.loads(resources.files("refldm_desktop").joinpath("resources", "refldm_release.json").read_text("utf-8"))
    return (
        f"{data.get('title', 'ReF-LDM')}\n\nFrom: {data.get('homepage', '')}\n"
        f"Licence: {data.get('license', 'see the authors’ repository')}\n\n"
        "The download is about 2 GB and resumes where it stopped if interrupted."
    )


def list_installed(models_root: Path) -> list[dict]:
    from refldm_desktop.restore.refldm.store import list_models

    rows = []
    for e in list_models(models_root):
        if isinstance(e, tuple):
            rows.append({"name": e[0].name, "size": "", "state": f"damaged: {e[1]}"})
        else:
            rows.append({"name": e.name, "size": f"{e.size / 2**20:.0f} MiB", "state": f"ready ({e.manifest.get('created', '')})"})
    return rows


class ModelsDialog(QDialog):
    def __init__(self, ctx: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.root = ctx.library.home.models
        self.setObjectName("modelsDialog")
        self.setWindowTitle("Models")
        self.setAccessibleName("Models")
        self.resize(680, 480)
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("modelsTable")
        self.table.setAccessibleName("Installed models")
        self.table.setHorizontalHeaderLabels(["Name", "Size", "State"])
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.empty = QLabel(
            "No ReF-LDM model is installed. Finding people and choosing references work without it; "
            "restoring faces needs it."
        )
        self.empty.setWordWrap(True)
        self.install_button = QPushButton("&Install the authors' release…")
        self.install_button.setObjectName("installModelButton")
        self.install_button.setAccessibleName("Download and install the ReF-LDM release")
        self.install_button.clicked.connect(self.install)
        self.import_button = QPushButton("I&mport files…")
        self.import_button.setObjectName("importModelButton")
        self.import_button.setAccessibleName("Import ReF-LDM checkpoint files you already have")
        self.import_button.clicked.connect(self.import_files)
        self.name = QLineEdit("refldm")
        self.name.setAccessibleName("Name for the model to install or import")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Name:"))
        bar.addWidget(self.name)
        bar.addWidget(self.install_button)
        bar.addWidget(self.import_button)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Install progress")
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.log = QPlainTextEdit()
        self.log.setObjectName("modelsLog")
        self.log.setAccessibleName("What installing or importing did")
        self.log.setReadOnly(True)
        self.log.setMaximumHeight(120)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.empty)
        lay.addWidget(self.table, 1)
        lay.addLayout(bar)
        lay.addWidget(self.progress)
        lay.addWidget(self.log)
        lay.addWidget(buttons)
        self.refresh()

    def refresh(self) -> None:
        self.ctx.tasks.run(lambda: list_installed(self.root), self._show, label="Listing models")

    def _show(self, rows) -> None:
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, key in enumerate(("name", "size", "state")):
                item = QTableWidgetItem(row[key])
                item.setToolTip(row[key])
                self.table.setItem(r, c, item)
        self.empty.setVisible(not rows)

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.install_button.setEnabled(not busy)
        self.import_button.setEnabled(not busy)

    def _log(self, line: str) -> None:
        self.log.appendPlainText(line)

    def install(self) -> None:
        answer = QMessageBox.question(self, "Install ReF-LDM", release_terms() + "\n\nDownload and install it now?")
        if answer != QMessageBox.StandardButton.Yes:
            return
        from refldm_desktop.restore.refldm.release import install, load_release

        root, downloads, name = self.root, self.ctx.library.home.cache / "downloads", self.name.text().strip()

        def work(task):
            return install(load_release(), root, downloads, name, progress=False, log=lambda s: None)

        self._run("Installing the model", work)

    def import_files(self) -> None:
        refldm, _ = QFileDialog.getOpenFileName(self, "The ReF-LDM checkpoint (refldm.ckpt)", "", "Checkpoints (*.ckpt *.pt *.pth);;All files (*)")
        if not refldm:
            return
        vqgan, _ = QFileDialog.getOpenFileName(self, "The VQGAN checkpoint (vqgan.ckpt)", str(Path(refldm).parent), "Checkpoints (*.ckpt *.pt *.pth);;All files (*)")
        if vqgan:
            self.import_paths(Path(refldm), Path(vqgan))

    def import_paths(self, refldm: Path, vqgan: Path) -> None:
        from refldm_desktop.restore.refldm.config import DEFAULT_CONFIG
        from refldm_desktop.restore.refldm.listing import load_listing
        from refldm_desktop.restore.refldm.store import import_checkpoints

        root, name = self.root, self.name.text().strip()

        def work(task):
            return import_checkpoints(root, refldm, vqgan, DEFAULT_CONFIG, name=name, listing=load_listing(), log=lambda s: None)

        self._run("Importing the model", work)

    def _run(self, label: str, work) -> None:
        self._busy(True)
        self._log(f"{label}…")

        def ok(stored) -> None:
            self._busy(False)
            self._log(f"{stored.name} is ready ({stored.size / 2**20:.0f} MiB in {stored.path})")
            self.refresh()

        def failed(exc, details) -> None:
            from refldm_desktop.ui.tasks import describe

            self._busy(False)
            self._log(describe(exc))
            self.refresh()

        self.ctx.tasks.run_long(label, work, ok, failed)
