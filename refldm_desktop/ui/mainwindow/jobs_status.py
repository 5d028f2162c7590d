"""The job queue seen from the status bar, on every page: the running job's progress (the
same words and time left as the Jobs panel), and the jobs an earlier session left behind,
with a button that opens the Jobs page where they can be resumed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from refldm_desktop.db.models import JobState
from refldm_desktop.ui.naming import named

if TYPE_CHECKING:
    from refldm_desktop.jobs.queue import JobInfo
    from refldm_desktop.ui.context import AppContext


class JobsStatus(QWidget):
    def __init__(self, ctx: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("jobsStatus")
        self.follow = ctx.running_job
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
        self.follow.changed.connect(self._show)
        self._show()  # made after the first paint: the shared follower may know the job already
        ctx.jobs.left_over_resumed.connect(self.left_over.hide)
        jobs = ctx.library.jobs
        ctx.after_first_paint(lambda: ctx.tasks.run(lambda: jobs.list(), self._left_over, lambda *_: None, label=""))

    # -- jobs an earlier session left ----------------------------------------------------

    def _left_over(self, jobs: list["JobInfo"]) -> None:
        # Jobs this window queued meanwhile are not from last time.
        left = [j for j in jobs if self.ctx.jobs.left_over(j.id)]
        waiting = sum(1 for j in left if j.state in (JobState.QUEUED, JobState.RUNNING))
        failed = sum(1 for j in left if j.state == JobState.FAILED)
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

    def _show(self) -> None:
        follow = self.follow
        if not follow.running:
            self.label.hide()
            self.bar.hide()
            return
        self.label.setText(f"Restoring {follow.name()}: {follow.text()}")
        fraction = follow.fraction()
        if fraction is None:
            self.bar.setRange(0, 0)  # busy: no steps reported yet
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(fraction * 1000))
        self.label.show()
        self.bar.show()
