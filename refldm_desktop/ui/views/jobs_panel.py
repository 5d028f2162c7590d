"""The Jobs panel: every queued or running job with its progress (face i of n, step j of m,
time left), cancel and retry, errors to read and copy, and the jobs an earlier session
left behind offered for resuming."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from refldm_desktop.ui.models.jobs import FractionRole, JobsModel, StateRole
from refldm_desktop.ui.advice import for_app
from refldm_desktop.ui.models import Index
from refldm_desktop.ui.mainwindow.pages import page
from refldm_desktop.ui.views.heading import heading, page_title
from refldm_desktop.ui.views.buttons import verb_buttons
from refldm_desktop.ui.views.empty_hint import EmptyHint
from refldm_desktop.ui.views.people_common import coalesced
from refldm_desktop.ui.views.when_shown import WhenShown
from refldm_desktop.db.models import ENDED, JobState

if TYPE_CHECKING:
    from refldm_desktop.jobs.queue import JobInfo
    from refldm_desktop.ui.context import AppContext


class ProgressDelegate(QStyledItemDelegate):
    """The progress column as a bar with the text on it, while a job runs."""

    def paint(self, painter, option, index: Index) -> None:
        fraction = index.data(FractionRole)
        if fraction is None:
            return super().paint(painter, option, index)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(fraction * 1000)
        # One line on the bar: a narrow column wrapped it over the bar's edges.
        bar.text = option.fontMetrics.elidedText(str(index.data() or ""), Qt.TextElideMode.ElideRight,
                                                 max(0, bar.rect.width() - 8))
        bar.textVisible = True
        # Horizontal said outright: without it the style filled the bar from the bottom up.
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        bar.palette = option.palette
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


def job_details(job: "JobInfo", preview: str | None = None) -> str:
    """Everything a user may want to read or paste into a bug report, as plain text."""
    lines = [f"Job {job.id} ({job.kind}), batch {job.batch_id}: {job.state}"]
    if job.photo:
        lines.append(f"Photo: {job.photo}")
    if preview:
        lines.append(f"Quick preview (shown in Compare): {preview}")
    if job.output:
        lines.append(f"Result: {job.output}")
    if job.error:
        lines.append(f"Error: {for_app(job.error)}")
    if job.note:
        lines.append("Notes:\n" + "\n".join(f"  {n}" for n in for_app(job.note).splitlines()))
    if job.message:
        lines.append(f"Last message: {job.message}")
    lines.append(f"Attempts: {job.attempts}")
    return "\n".join(lines)


class JobsPanel(QWidget):
    def __init__(self, ctx: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("jobsPanel")
        self.setAccessibleName("Jobs")
        self.model = JobsModel(self)
        self._resume_offered = False

        self.banner = QLabel()
        self.banner.setObjectName("jobsLeftOver")
        self.banner.setAccessibleName("Jobs left from an earlier session")
        self.banner.setWordWrap(True)
        self.resume_button = QPushButton("&Resume them")
        self.resume_button.setObjectName("resumeJobsButton")
        self.resume_button.setAccessibleName("Resume the jobs left from an earlier session")
        self.resume_button.clicked.connect(self.resume_left_over)
        banner = QHBoxLayout()
        banner.addWidget(self.banner, 1)
        banner.addWidget(self.resume_button)
        self.banner.hide()
        self.resume_button.hide()

        self.table = QTableView()
        self.table.setObjectName("jobsTable")
        self.table.setAccessibleName("Jobs in the queue")
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(2, ProgressDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().hide()
        self.empty = EmptyHint(self.table, "jobsEmpty")
        header = self.table.horizontalHeader()
        # Photo names arrive after the header is laid out (sized to contents they were cut to
        # "oba…"): a width that shows a usual file name, and the user can drag it.
        header.resizeSection(0, 240)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.resizeSection(2, 380)  # "preview ready · face 2 of 3 · step 23 of 50 · about 1 min left"
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.details = QPlainTextEdit()
        self.details.setObjectName("jobDetails")
        self.details.setAccessibleName("Details of the selected job; select and copy the text")
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("Select a job to read its details and errors here.")

        bar = QHBoxLayout()
        self.buttons = verb_buttons(self, (
            ("cancel", "&Cancel", "Delete", "Cancel the selected jobs", self.cancel_selected),
            ("retry", "Re&try", "Ctrl+R", "Queue the selected failed or cancelled jobs again", self.retry_selected),
            ("copy", "Cop&y details", "Ctrl+Shift+C", "Copy the selected jobs' details and errors", self.copy_details),
            ("open", "&Open result", "", "Compare the selected job's result (or its quick preview) with the original",
             self.open_selected),
        ), "JobsButton", bar)
        self.table.activated.connect(lambda _index: self.open_selected())  # Enter or a double click
        bar.addStretch(1)
        self.show_finished = QCheckBox("Show &finished")
        self.show_finished.setAccessibleName("Show finished and cancelled jobs too")
        self.show_finished.toggled.connect(lambda _: self.refresh())
        bar.addWidget(self.show_finished)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.details)
        split.setStretchFactor(0, 3)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addLayout(heading(page_title(page("jobs").title)))
        lay.addLayout(banner)
        lay.addLayout(bar)
        lay.addWidget(split, 1)

        self._refresh_soon = coalesced(self, self.refresh)
        self._when_shown = WhenShown(self, self._refresh_soon)  # the list is read while in view
        ctx.jobs.event.connect(self._event)
        ctx.changed.connect(self._changed)
        self._update_buttons()
        self.refresh()

    def page_shown(self) -> None:
        self._when_shown.refreshed()
        self.refresh()

    # -- data ----------------------------------------------------------------------------

    def refresh(self) -> None:
        jobs = self.ctx.library.jobs
        show_all = self.show_finished.isChecked()
        self.ctx.tasks.run(lambda: jobs.list(all=show_all), self._show, label="Listing jobs")

    def _show(self, jobs) -> None:
        self.model.set_jobs(jobs)
        if self.show_finished.isChecked():
            from refldm_desktop.ui.keys import with_key
            from refldm_desktop.ui.mainwindow.actions import BATCH_SHORTCUT, photo_verb

            restore = with_key("Restore Faces", photo_verb("restore").shortcut)
            batch = with_key("Tools › Clean Up an Album…", BATCH_SHORTCUT)
            self.empty.set_text(f"No jobs yet.\n\nRight-click a photo in the Library and choose {restore}, "
                                f"or clean up an album with {batch}.")
        else:
            self.empty.set_text("Nothing is waiting or running.\n\nTick Show finished to see the jobs that "
                                "have ended, with their results and errors.")
        self._offer_resume(jobs)
        self._update_buttons()
        self._selection_changed()

    def _offer_resume(self, jobs) -> None:
        """Jobs waiting while no runner works in this window came from an earlier session
        (or were stopped): say so once and offer to go on."""
        left = [j for j in jobs if self.ctx.jobs.left_over(j.id)]
        waiting = [j for j in left if j.state in (JobState.QUEUED, JobState.RUNNING)]
        failed = [j for j in left if j.state == JobState.FAILED]
        if not (waiting or failed) or self._resume_offered:
            self.banner.hide()
            self.resume_button.hide()
            return
        parts = []
        if waiting:
            parts.append(f"{len(waiting)} job{'s' if len(waiting) != 1 else ''} waiting")
        if failed:
            parts.append(f"{len(failed)} failed")
        self.banner.setText(f"Left from an earlier session: {' and '.join(parts)}.")
        self.banner.show()
        self.resume_button.show()

    def _event(self, event) -> None:
        if not self.model.apply_event(event) or event.state in ENDED or event.state == JobState.QUEUED:
            self._when_shown.changed()
        elif self.table.selectionModel().isRowSelected(self.model.row_of(event.job_id), QModelIndex()):
            self._selection_changed()

    def _changed(self, change) -> None:
        if "jobs" in change.areas:
            self._when_shown.changed()

    # -- selection -----------------------------------------------------------------------

    def selected_jobs(self) -> list["JobInfo"]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.job(r) for r in rows]

    def _selection_changed(self, *_) -> None:
        jobs = self.selected_jobs()
        text = self._details(jobs)
        if text != self.details.toPlainText():  # else a selection being copied would be lost
            self.details.setPlainText(text)
        self._update_buttons()

    def _update_buttons(self) -> None:
        states = {self.model.index(i.row(), 0).data(StateRole) for i in self.table.selectionModel().selectedRows()}
        self.buttons["cancel"].setEnabled(bool(states & {"queued", "running"}))
        self.buttons["retry"].setEnabled(bool(states & {"failed", "cancelled"}))
        self.buttons["copy"].setEnabled(bool(states))
        self.buttons["open"].setEnabled(any(j.version_id or self.model.preview(j.id) for j in self.selected_jobs()))

    # -- the user's verbs ----------------------------------------------------------------

    def cancel_selected(self) -> None:
        ids = [j.id for j in self.selected_jobs() if j.state in (JobState.QUEUED, JobState.RUNNING)]
        if ids:
            self.ctx.tasks.run(lambda: self.ctx.jobs.cancel(ids), lambda _: self.refresh(), label="Cancel jobs")

    def retry_selected(self) -> None:
        ids = [j.id for j in self.selected_jobs() if j.state in (JobState.FAILED, JobState.CANCELLED)]
        if ids:
            self._resume(ids)

    def resume_left_over(self) -> None:
        self._resume_offered = True
        self.banner.hide()
        self.resume_button.hide()
        failed = [self.model.job(r).id for r in range(self.model.rowCount()) if self.model.job(r).state == JobState.FAILED]
        self._resume(failed, everything=True)

    def _resume(self, ids: list[int], everything: bool = False) -> None:
        """Queue these ended jobs again and run them; `everything`: the jobs an earlier
        session left waiting too."""
        jobs = self.ctx.library.jobs

        def resume():
            return jobs.resume(ids) if ids else None

        def done(_result) -> None:
            # The user asked for it: run them even where jobs do not start by themselves.
            if everything:
                self.ctx.jobs.resume_left_over()
            else:
                self.ctx.jobs.run_now(ids)
            self.refresh()

        self.ctx.tasks.run(resume, done, label="Resume jobs")

    def _details(self, jobs: list["JobInfo"]) -> str:
        return "\n\n".join(job_details(j, self.model.preview(j.id)) for j in jobs)

    def open_selected(self) -> None:
        """The first selected job's result in the compare view (Restored page), or while it
        runs its quick preview (Library page)."""
        from pathlib import Path

        from refldm_desktop.ui.views.photos_page import OpenPreview, OpenVersion

        for job in self.selected_jobs():
            preview = self.model.preview(job.id)
            if job.version_id:
                self.ctx.navigate.emit("restored", OpenVersion(job.version_id))
                return
            if preview and job.photo_id is not None:
                self.ctx.navigate.emit("photos", OpenPreview(job.photo_id, Path(preview)))
                return
        self.ctx.status.emit("No result to show yet: a job shows its result when it is done")

    def copy_details(self) -> None:
        text = self._details(self.selected_jobs())
        if text:
            QGuiApplication.clipboard().setText(text)
            self.ctx.status.emit("Job details copied")
