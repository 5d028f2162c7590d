"""Following a running job from the runner's events, in the Jobs panel's words (phase, face i
of n, step j of m, time left) and with its share done: for the status bar (whichever job
runs) and the compare view (the job behind the preview it shows)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from refldm_desktop.db.models import JobState
from refldm_desktop.ui.models.jobs import FractionRole, JobsModel

if TYPE_CHECKING:
    from refldm_desktop.jobs.queue import JobInfo
    from refldm_desktop.jobs.runner import JobEvent
    from refldm_desktop.ui.context import AppContext

ENDED = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class JobFollower(QObject):
    changed = Signal()  # the followed job moved on, or ended (then `running` is False)
    heard = Signal()  # any event of the runner

    def __init__(self, ctx: "AppContext", parent: QObject | None = None, job_id: int | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.job_id = job_id  # None: whichever job runs (the runner runs one at a time)
        self.model = JobsModel(self)
        self._fetching: dict[int, "JobEvent"] = {}  # job being read: its latest event meanwhile
        ctx.jobs.event.connect(self._event)

    def follow(self, job_id: int | None) -> None:
        self.job_id = job_id
        self.model.set_jobs([])
        self.changed.emit()

    @property
    def running(self) -> bool:
        return self.model.rowCount() > 0

    def name(self) -> str:
        return str(self.model.index(0, 0).data() or "") if self.running else ""

    def text(self) -> str:
        return str(self.model.index(0, 2).data() or "") if self.running else ""

    def fraction(self) -> float | None:
        return self.model.index(0, 2).data(FractionRole) if self.running else None

    def _event(self, event: "JobEvent") -> None:
        self.heard.emit()
        if self.job_id is not None and event.job_id != self.job_id:
            return
        if event.state in ENDED:
            if self.model.row_of(event.job_id) >= 0:
                self.model.set_jobs([])
                self.changed.emit()
            return
        if self.model.apply_event(event):
            self.changed.emit()
            return
        known = event.job_id in self._fetching
        self._fetching[event.job_id] = event
        if not known:
            # A job not seen yet: read it once (its photo, its plan), then follow its events.
            jobs, job_id = self.ctx.library.jobs, event.job_id

            def unread(_exc: BaseException, _details: str) -> None:
                self._fetching.pop(job_id, None)

            self.ctx.tasks.run(lambda: jobs.get(job_id), self._fetched, unread, label="")

    def _fetched(self, job: "JobInfo") -> None:
        latest = self._fetching.pop(job.id, None)
        if job.state in (JobState.QUEUED, JobState.RUNNING) and self.job_id in (None, job.id):
            self.model.set_jobs([job])
            if latest is not None and latest.state not in ENDED:
                self.model.apply_event(latest)  # what it said while it was read (its phase too)
        self.changed.emit()
