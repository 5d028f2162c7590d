"""The Models dialog: installed ReF-LDM models (which one restores by default), install the
authors' release (licence shown first; download with progress, cancel, and resume from
where it stopped), import checkpoint files already on disk, remove a model.

Over the core's ModelManager, the same verbs as `refldm-desktop models ...`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
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
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from refldm_desktop.ui.views.buttons import verb_buttons

if TYPE_CHECKING:
    from refldm_desktop.core.models import ModelInfo, ModelManager, ReleaseTerms
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.tasks import Task


def release_terms(terms: "ReleaseTerms", resume_bytes: int = 0) -> str:
    """What the user agrees to before downloading: the title, homepage, licence and size
    of the manifest the download uses (a mirror's own, when one is set)."""
    resume = (
        f"\n{resume_bytes / 2**20:.0f} MiB were downloaded earlier; the download goes on from there."
        if resume_bytes else ""
    )
    size = f"The download is {terms.download_size}. " if terms.download_size else ""
    origin = "" if terms.built_in else f"Release manifest: {terms.source}\n"
    return (
        f"{terms.title}\n\n{origin}From: {terms.homepage or 'not given by this release manifest'}\n"
        f"Licence: {terms.license or 'not given by this release manifest; ask whoever provides it'}\n\n"
        f"{size}Cancelling keeps what was downloaded, and the next install resumes from there.{resume}"
    )


class ModelsDialog(QDialog):
    def __init__(self, ctx: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from refldm_desktop.core.models import ModelManager

        self.ctx = ctx
        self.manager: "ModelManager" = ModelManager(ctx.library.home)
        self.models: list["ModelInfo"] = []
        self.default: str | None = None
        self.task: "Task | None" = None
        self.setObjectName("modelsDialog")
        self.setWindowTitle("Models")
        self.setAccessibleName("Models")
        self.resize(720, 210)  # grows when there are models to list
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("modelsTable")
        self.table.setAccessibleName("Installed models")
        self.table.setHorizontalHeaderLabels(["Name", "Size", "Face size", "State"])
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.empty = QLabel(
            "No ReF-LDM model is installed. Finding people and choosing references work without it; "
            "restoring faces needs it.\n\nInstall downloads the authors' release (about 2 GB, resumable; "
            "non-commercial research licence). Import files takes checkpoints you already have."
        )
        self.empty.setWordWrap(True)
        self.name = QLineEdit("refldm")
        self.name.setAccessibleName("Name for the model to install or import")
        bar = QHBoxLayout()
        name_label = QLabel("&Name:")
        name_label.setBuddy(self.name)
        bar.addWidget(name_label)
        bar.addWidget(self.name)
        self.buttons = verb_buttons(self, (
            ("install", "&Install…", "", "Download and install the authors' ReF-LDM release", self.install),
            ("import", "I&mport files…", "", "Import ReF-LDM checkpoint files you already have", self.import_files),
            ("default", "Use by &default", "", "Restore with the selected model from now on", self.make_default),
            ("remove", "&Remove", "", "Delete the selected model from this computer", self.remove),
            ("cancel", "&Cancel", "", "Stop installing (what was downloaded is kept)", self.cancel),
        ), "ModelButton", bar)
        self.progress = QProgressBar()
        self.progress.setObjectName("modelsProgress")
        self.progress.setAccessibleName("Install progress")
        self.progress.hide()
        self.log = QPlainTextEdit()
        self.log.setObjectName("modelsLog")
        self.log.setAccessibleName("What installing or importing did")
        self.log.setReadOnly(True)
        self.log.setMaximumHeight(110)
        self.log.hide()  # until there is something to say
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.empty, 1)  # in the table's place while there is none
        lay.addWidget(self.table, 1)
        self.table.hide()
        lay.addLayout(bar)
        lay.addWidget(self.progress)
        lay.addWidget(self.log)
        lay.addWidget(close)
        ctx.tasks.progressed.connect(self._progressed)
        self._update_buttons()
        self.refresh()

    # -- the list ------------------------------------------------------------------------

    def refresh(self) -> None:
        manager = self.manager
        self.ctx.tasks.run(lambda: (manager.list(), manager.default), self._show, label="Listing models")

    def _show(self, result) -> None:
        self.models, self.default = result
        self.table.setRowCount(len(self.models))
        for r, m in enumerate(self.models):
            state = m.problem and f"damaged: {m.problem}" or ("ready, used by default" if m.name == self.default else "ready")
            cells = (
                m.name, "" if m.size is None else f"{m.size / 2**20:.0f} MiB",
                "" if m.image_size is None else f"{m.image_size} px", state,
            )
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{m.path}\n{text}")
                self.table.setItem(r, c, item)
        self.empty.setVisible(not self.models)
        self.table.setVisible(bool(self.models))
        if self.models and self.height() < 420:
            self.resize(self.width(), 500)
        self._update_buttons()

    def selected(self) -> "ModelInfo | None":
        rows = self.table.selectionModel().selectedRows()
        return self.models[rows[0].row()] if rows and rows[0].row() < len(self.models) else None

    def _update_buttons(self) -> None:
        busy = self.task is not None
        m = self.selected()
        self.buttons["install"].setEnabled(not busy)
        self.buttons["import"].setEnabled(not busy)
        self.buttons["default"].setEnabled(not busy and m is not None and m.problem is None and m.name != self.default)
        self.buttons["remove"].setEnabled(not busy and m is not None)
        self.buttons["cancel"].setVisible(busy)

    # -- verbs ---------------------------------------------------------------------------

    def install(self) -> None:
        # A small file read, as the download will read it: the terms are those of what is
        # downloaded. One that cannot be read is said here, before anything is agreed to.
        try:
            terms = release_terms(self.manager.release_terms(), self.manager.pending_download())
        except Exception as exc:  # noqa: BLE001 - a ModelError says which manifest and why
            from refldm_desktop.ui.tasks import describe

            self._log(describe(exc))
            return
        answer = QMessageBox.question(self, "Install ReF-LDM", terms + "\n\nDownload and install it now?")
        if answer == QMessageBox.StandardButton.Yes:
            manager, name = self.manager, self.name.text().strip()
            self._run("Installing the model", lambda task: manager.install(task.progress, task.cancelled, name=name))

    def import_files(self) -> None:
        kinds = "Checkpoints (*.ckpt *.pt *.pth *.safetensors);;All files (*)"
        refldm, _ = QFileDialog.getOpenFileName(self, "The ReF-LDM checkpoint (refldm.ckpt)", "", kinds)
        if refldm:
            vqgan, _ = QFileDialog.getOpenFileName(self, "The VQGAN checkpoint (vqgan.ckpt)", str(Path(refldm).parent), kinds)
            if vqgan:
                self.import_paths(Path(refldm), Path(vqgan))

    def import_paths(self, refldm: Path, vqgan: Path) -> None:
        manager, name = self.manager, self.name.text().strip()
        self._run(
            "Importing the model",
            lambda task: manager.import_files(refldm, vqgan, name=name, progress=task.progress, cancel=task.cancelled),
        )

    def make_default(self) -> None:
        m = self.selected()
        if m is not None:
            manager = self.manager
            self.ctx.tasks.run(lambda: manager.set_default(m.name), lambda _: self.refresh(), self._failed, label="Default model")

    def remove(self) -> None:
        m = self.selected()
        if m is None:
            return
        answer = QMessageBox.question(self, "Remove a model", f"Delete the model {m.name} ({m.path}) from this computer?")
        if answer == QMessageBox.StandardButton.Yes:
            manager = self.manager
            self.ctx.tasks.run(lambda: manager.remove(m.name), lambda _: self.refresh(), self._failed, label="Remove a model")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self._log("Cancelling…")

    def _run(self, label: str, work) -> None:
        self._log(f"{label}…")
        self.progress.setRange(0, 0)
        self.progress.show()

        def ok(info) -> None:
            self._finished()
            self._log(f"{info.name} is ready ({(info.size or 0) / 2**20:.0f} MiB in {info.path})")

        def failed(exc, details) -> None:
            self._finished()
            self._failed(exc, details)

        self.task = self.ctx.tasks.run_long(label, work, ok, failed)
        self._update_buttons()

    def _finished(self) -> None:
        self.task = None
        self.progress.hide()
        self._update_buttons()
        self.refresh()

    def _failed(self, exc, details) -> None:
        from refldm_desktop.ui.tasks import describe

        self._log(describe(exc))

    def _progressed(self, task: "Task") -> None:
        if task is not self.task:
            return
        if task.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(task.done, task.total) / task.total))
        if task.message:
            self.progress.setFormat(f"{task.message} %p%")

    def _log(self, line: str) -> None:
        self.log.show()
        self.log.appendPlainText(line)
