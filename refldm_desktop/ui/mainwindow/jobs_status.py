"""The job queue seen from the status bar, on every page: the running job's progress (the
same words and time left as the Jobs panel), and the jobs an earlier session left behind,
with a button that opens the Jobs page where they can be resumed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from refldm_desktop.db.models import JobState
from refldm_desktop.ui.dialogs.forms import named
from refldm_desktop.ui.models.jobs import FractionRole, JobsModel

if TYPE_CHECKING:
    from refldm_desktop.jobs.queue import JobInfo
    from refldm_desktop.jobs.runner import JobEvent
    from refldm_desktop.ui.context import AppContext

ENDED = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class JobsStatus(QWidget):
    def __init__(self, ctx: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("jobsStatus")
        self.model = JobsModel(self)  # the running job only (the runner runs one at a time)
        self._fetching: set[int] = set()
        self.label = named(QLabel(), "jobStatusLabel", "Restoring now")
        self.bar = named(QProgressBar(), "jobStatusProgress", "Progress of the running job")
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(140)
        self.bar.setTextVisible(False)
        self.left_over = named(QToolButton(), "leftOverJobsButton",
                               "Open the Jobs page to resume the jobs left from an earlier session")
        self.left_over.clicked.connect(self.open_jobs)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.left_over, self.label, self.bar):
            layout.addWidget(w)
            w.hide()
        ctx.jobs.event.connect(self._event)
        jobs = ctx.library.jobs
        ctx.after_first_paint(lambda: ctx.tasks.run(lambda: jobs.list(), self._left_over, lambda *_: None, label=""))

    # -- jobs an earlier session left ----------------------------------------------------

    def _left_over(self, jobs: list["JobInfo"]) -> None:
        if self.ctx.jobs.running:
            return
        waiting = sum(1 for j in jobs if j.state in (JobState.QUEUED, JobState.RUNNING))
        failed = sum(1 for j in jobs if j.state == JobState.FAILED)
        if not (waiting or failed):
            return
        parts = [f"{waiting} waiting"] if waiting else []
        if failed:
            parts.append(f"{failed} failed")
        n = waiting + failed
        self.left_over.setText(f"{n} job{'s' if n != 1 else ''} from last time ({', '.join(parts)}): Resume…")
        self.left_over.setToolTip("Jobs an earlier session did not finish; the Jobs page resumes them")
        self.left_over.show()

    def open_jobs(self) -> None:
        self.left_over.hide()
        self.ctx.navigate.emit("jobs", None)

    # -- the running job -----------------------------------------------------------------

    def _event(self, event: "JobEvent") -> None:
        self.left_over.hide()  # the runner works: whatever was left is being done
        if event.state in ENDED:
            if self.model.row_of(event.job_id) >= 0:
                self.model.set_jobs([])
                self._show()
            return
        if self.model.apply_event(event):
            self._show()
        elif event.job_id not in self._fetching:
            # A job this bar has not seen: read it once (its photo, its plan), then follow it.
            self._fetching.add(event.job_id)
            jobs = self.ctx.library.jobs
            self.ctx.tasks.run(lambda: jobs.get(event.job_id), self._fetched, lambda *_: self._fetching.discard(event.job_id), label="")

    def _fetched(self, job: "JobInfo") -> None:
        self._fetching.discard(job.id)
        if job.state in (JobState.QUEUED, JobState.RUNNING):
            self.model.set_jobs([job])
        self._show()

    def _show(self) -> None:
        if self.model.rowCount() == 0:
            self.label.hide()
            self.bar.hide()
            return
        name, progress = self.model.index(0, 0).data(), self.model.index(0, 2).data()
        self.label.setText(f"Restoring {name}: {progress}")
        fraction = self.model.index(0, 2).data(FractionRole)
        if fraction is None:
            self.bar.setRange(0, 0)  # busy: no steps reported yet
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(fraction * 1000))
        self.label.show()
        self.bar.show()
