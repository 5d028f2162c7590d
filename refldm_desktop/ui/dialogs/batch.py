"""Batch album cleanup: pick a folder (or everything), set how poor a face must be to be
restored while watching how many faces that selects, start, and read the HTML report at
the end.

The faces are measured once when the dialog opens (a plan with every face below the top
score); moving the threshold then only filters that list, so the count follows the slider
at once. Start plans again at the chosen threshold (the core decides) and queues it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSlider,
    QWidget,
)

from refldm_desktop.ui.dialogs.forms import accept_buttons, add_rows, stack
from refldm_desktop.ui.views.people_common import people_thumbs
from refldm_desktop.db.models import ENDED
from refldm_desktop.words import agree, counted

if TYPE_CHECKING:
    from refldm_desktop.core.restoring import BatchPlan, RestoreSettings
    from refldm_desktop.ui.context import AppContext

THUMB = 64
SHOWN = 60  # thumbnails of the poorest faces selected; the count covers all
EVERYTHING = "Everything in the library"


class ByQuality:
    """Today's planning: faces whose score as a reference is below the threshold."""

    label = "Restore faces with &quality below:"
    measure = "quality"  # what a thumbnail's number is
    widest = 1.0  # the threshold that selects every face any threshold could

    @staticmethod
    def default() -> float:
        from refldm_desktop.defaults import DEFAULT_MIN_QUALITY

        return DEFAULT_MIN_QUALITY

    @staticmethod
    def plan_args(threshold: float) -> dict:
        return {"min_quality": threshold}

    @staticmethod
    def selected(faces, threshold: float) -> list:
        return sorted((f for f in faces if f.quality < threshold), key=lambda f: (f.quality, f.face_id))

    @staticmethod
    def score(f) -> tuple[float, tuple[str, ...]]:
        return f.quality, f.reasons

    @staticmethod
    def summary(plan, chosen: list, threshold: float) -> str:
        skipped = plan.without_person + plan.without_references
        extra = (
            f" {skipped} other {'face is' if skipped == 1 else 'faces are'} never restored here: they belong to nobody yet, or their person has "
            "no good photos to learn from." if skipped else ""
        )
        photos = len({f.photo_id for f in chosen})
        return (
            f"{counted(len(chosen), 'face')} in {counted(photos, 'photo')} {agree(len(chosen), 'scores', 'score')} "
            f"below {threshold:.2f} and will be restored.{extra}"
        )


class ByNeed(ByQuality):
    """The core's restoration-need planning: faces that need restoring at least this much,
    and what is left alone counted by reason."""

    label = "Restore faces that &need it at least:"
    measure = "need"
    widest = 0.0

    @staticmethod
    def default() -> float:
        from refldm_desktop.defaults import DEFAULT_MIN_NEED

        return DEFAULT_MIN_NEED

    @staticmethod
    def plan_args(threshold: float) -> dict:
        return {"min_need": threshold}

    @staticmethod
    def selected(faces, threshold: float) -> list:
        return sorted(
            (f for f in faces if f.need is not None and f.need >= threshold), key=lambda f: (-f.need, f.face_id)
        )

    @staticmethod
    def score(f) -> tuple[float, tuple[str, ...]]:
        return f.need, f.need_reasons

    @staticmethod
    def summary(plan, chosen: list, threshold: float) -> str:
        from refldm_desktop.core.restoring import LeftOut

        photos = len({f.photo_id for f in chosen})
        less = plan.count(LeftOut.SHARP) + len(plan.faces) - len(chosen)
        never = ", ".join(f"{n} {why}" for why, n in plan.counts.items() if n and why != LeftOut.SHARP)
        return (
            f"{counted(len(chosen), 'face')} in {counted(photos, 'photo')} {agree(len(chosen), 'needs', 'need')} "
            f"restoring at least {threshold:.2f} and will be restored. Left alone: {less} {agree(less, 'needs', 'need')} it less."
            + (f" Never restored here, whatever the threshold: {never}." if never else "")
        )


def criterion(restoring) -> type[ByQuality]:
    """Plan by need where the core can, else by quality."""
    import inspect

    return ByNeed if "min_need" in inspect.signature(restoring.plan_batch).parameters else ByQuality


class BatchDialog(QDialog):
    started = Signal(str)  # batch id
    finished_report = Signal(str)  # the report's path

    def __init__(self, ctx: "AppContext", parent: QWidget | None = None, settings: "RestoreSettings | None" = None) -> None:
        super().__init__(parent)
        from refldm_desktop.ui.restore_ops import saved_defaults

        self.ctx = ctx
        self.by = criterion(ctx.library.restoring)
        # The saved settings, as `refldm-desktop batch` reads them (the same batch then has
        # the same id in both, and running it again finishes what remains).
        self.settings = settings or saved_defaults(ctx)
        self.setObjectName("batchDialog")
        self.setWindowTitle("Clean up an album")
        self.setAccessibleName("Batch album cleanup")
        self.resize(720, 560)
        self.plan: "BatchPlan | None" = None
        self.batch_id: str | None = None
        self._scope_token = 0
        self.thumbs = people_thumbs(ctx)
        self.thumbs.ready.connect(self._thumb_ready)

        self.scope = QComboBox()
        self.scope.setObjectName("batchScope")
        self.scope.setAccessibleName("Which photos to clean up")
        self.scope.addItem(EVERYTHING, None)
        self.scope.addItem("Choose a folder…", "choose")
        self.scope.activated.connect(self._scope_chosen)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("batchThreshold")
        self.slider.setAccessibleName("Restore faces whose quality is below")
        self.slider.setRange(0, 100)
        self.spin = QDoubleSpinBox()
        self.spin.setAccessibleName("Quality threshold")
        self.spin.setRange(0.0, 1.0)
        self.spin.setSingleStep(0.05)
        self.spin.setDecimals(2)
        self.slider.valueChanged.connect(lambda v: self.spin.setValue(v / 100))
        self.spin.valueChanged.connect(self._threshold_changed)
        self.spin.setValue(self.by.default())
        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        self.no_refs = QCheckBox("Also restore faces without a person or reference photos (less faithful)")
        self.no_refs.setObjectName("batchNoRefs")
        self.no_refs.setAccessibleName("Also restore faces that have no reference photos")
        self.no_refs.setChecked(self.settings.no_refs_ok)
        self.no_refs.toggled.connect(self._no_refs_toggled)
        self.count = QLabel("Measuring the faces…")
        self.count.setObjectName("batchCount")
        self.count.setAccessibleName("How many faces this restores")
        self.count.setWordWrap(True)
        self.faces = QListWidget()
        self.faces.setObjectName("batchFaces")
        self.faces.setAccessibleName("The faces this restores, poorest first")
        self.faces.setViewMode(QListWidget.ViewMode.IconMode)
        self.faces.setIconSize(QSize(THUMB, THUMB))
        self.faces.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.faces.setMovement(QListWidget.Movement.Static)
        self.faces.setUniformItemSizes(True)
        self.faces.setGridSize(QSize(THUMB + 16, THUMB + 24))
        self.progress = QProgressBar()
        self.progress.setObjectName("batchProgress")
        self.progress.setAccessibleName("Batch progress")
        self.progress.hide()
        form = QFormLayout()
        add_rows(form, (("&Photos:", self.scope), (self.by.label, row), ("", self.no_refs)))
        self.buttons, self.start_button = accept_buttons(
            self, "&Start", "Start restoring these faces", name="startBatchButton", cancel="Close", on_accept=self.start,
        )
        self.start_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.start_button.setEnabled(False)
        stack(self, form, self.count, (self.faces, 1), self.progress, self.buttons)

        ctx.jobs.event.connect(self._job_event)
        ctx.tasks.run(ctx.library.folders, self._folders, label="Listing folders")
        self.measure()

    # -- scope ---------------------------------------------------------------------------

    def _folders(self, folders) -> None:
        for f in folders:
            self.scope.insertItem(self.scope.count() - 1, str(f), str(f))

    def set_scope(self, folder: Path | None) -> None:
        if folder is None:
            self.scope.setCurrentIndex(0)
        else:
            i = self.scope.findData(str(folder))
            if i < 0:
                i = self.scope.count() - 1
                self.scope.insertItem(i, str(folder), str(folder))
            self.scope.setCurrentIndex(i)
        self.measure()

    def _scope_chosen(self, index: int) -> None:
        if self.scope.itemData(index) == "choose":
            folder = QFileDialog.getExistingDirectory(self, "Which folder to clean up")
            self.set_scope(Path(folder) if folder else None)
        else:
            self.measure()

    def _no_refs_toggled(self, on: bool) -> None:
        from dataclasses import replace

        self.settings = replace(self.settings, no_refs_ok=on)
        self.measure()

    def scope_path(self) -> str | None:
        data = self.scope.currentData()
        return None if data in (None, "choose") else data

    # -- the live count ------------------------------------------------------------------

    def measure(self) -> None:
        """Every face of the scope that any threshold could select, measured once."""
        self._scope_token += 1
        token = self._scope_token
        self.plan = None
        self.start_button.setEnabled(False)
        self.count.setText("Measuring the faces…")
        restoring, scope, settings = self.ctx.library.restoring, self.scope_path(), self.settings

        def plan():
            return restoring.plan_batch(scope, **self.by.plan_args(self.by.widest), settings=settings, index=False)

        def done(plan) -> None:
            if token == self._scope_token:
                self.plan = plan
                n = getattr(plan, "without_refs", None)
                if n is None:
                    n = plan.without_person + plan.without_references
                if not self.no_refs.isChecked():
                    self.no_refs.setText(f"Also restore the {counted(n, 'face')} without a person or reference photos (less faithful)")
                self._threshold_changed(self.spin.value())

        def failed(exc, details) -> None:
            from refldm_desktop.ui.tasks import describe

            if token == self._scope_token:
                self.count.setText(describe(exc))

        self.ctx.tasks.run(plan, done, failed, label="Measuring faces")

    def _threshold_changed(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * 100))
        self.slider.blockSignals(False)
        if self.plan is None:
            return
        chosen = self.by.selected(self.plan.faces, value)
        self.count.setText(self.by.summary(self.plan, chosen, value))
        self.start_button.setEnabled(bool(chosen) and self.batch_id is None)
        self.faces.clear()
        for f in chosen[:SHOWN]:
            score, reasons = self.by.score(f)
            item = QListWidgetItem(f"{self.by.measure} {score:.2f}")
            item.setData(Qt.ItemDataRole.UserRole, f.face_id)
            item.setSizeHint(QSize(THUMB + 12, THUMB + 22))  # the picture may arrive later
            item.setToolTip("; ".join(reasons) or f"{score:.2f}")
            pm = self.thumbs.get(("face", f.face_id, THUMB * 2))
            if pm is not None:
                item.setIcon(pm)
            self.faces.addItem(item)

    def selected_count(self) -> int:
        return 0 if self.plan is None else len(self.by.selected(self.plan.faces, self.spin.value()))

    def _thumb_ready(self, key) -> None:
        if key[0] != "face" or key[2] != THUMB * 2:
            return
        for i in range(self.faces.count()):
            item = self.faces.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == key[1]:
                pm = self.thumbs.get(key)
                if pm is not None:
                    item.setIcon(QPixmap(pm))

    # -- running -------------------------------------------------------------------------

    def open_report(self, path: Path) -> None:
        """Show the report in the browser (tests replace this)."""
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def start(self) -> None:
        restoring, scope, settings = self.ctx.library.restoring, self.scope_path(), self.settings
        threshold = self.spin.value()
        self.start_button.setEnabled(False)
        self.scope.setEnabled(False)
        self.no_refs.setEnabled(False)
        self.slider.setEnabled(False)
        self.spin.setEnabled(False)

        def queue():
            plan = restoring.plan_batch(scope, **self.by.plan_args(threshold), settings=settings, index=False)
            return plan, restoring.enqueue_batch(plan, settings)

        def queued(result) -> None:
            plan, jobs = result
            self.batch_id = plan.batch_id
            self.progress.setRange(0, len(plan.photos))
            self.progress.setValue(0)
            self.progress.show()
            self.count.setText(f"Restoring {counted(len(plan.faces), 'face')} in {counted(len(plan.photos), 'photo')}…")
            self.started.emit(plan.batch_id)
            self.ctx.notify("jobs")
            self.ctx.jobs.queued(jobs.queued + jobs.existing)
            self._check_finished()

        self.ctx.tasks.run(queue, queued, label="Queueing the batch")

    def _job_event(self, event) -> None:
        if self.batch_id is not None and event.batch_id == self.batch_id and event.state in ENDED:
            self._check_finished()

    def _check_finished(self) -> None:
        jobs, bid = self.ctx.library.jobs, self.batch_id

        def states():
            return [j.state for j in jobs.list(all=True, batch_id=bid)]

        self.ctx.tasks.run(states, self._progressed, label="Batch progress")

    def _progressed(self, states) -> None:
        finished = sum(s in ("done", "failed", "cancelled") for s in states)
        self.progress.setValue(finished)
        if states and finished == len(states):
            self._report()

    def _report(self) -> None:
        if self.batch_id is None:
            return
        restoring, bid = self.ctx.library.restoring, self.batch_id
        self.batch_id = None  # once

        def opened(path) -> None:
            self.count.setText(f"Done. The report is at {path}")
            self.finished_report.emit(str(path))
            self.open_report(Path(path))

        self.ctx.tasks.run(lambda: restoring.write_report(bid), opened, label="Writing the report")
