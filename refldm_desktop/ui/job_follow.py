"""Following a running job from the runner's events, in the Jobs panel's words (phase, face i
of n, step j of m, time left) and with its share done. The runner runs one job at a time,
so one follower (`AppContext.running_job`) serves the status bar and the compare view (which
shows it while the running job is the one behind its preview)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from refldm_desktop.db.models import ENDED, JobState
from refldm_desktop.ui.models.jobs import FractionRole, JobsModel

if TYPE_CHECKING:
    from refldm_desktop.jobs.queue import JobInfo
    from refldm_desktop.jobs.runner import JobEvent
    from refldm_desktop.ui.context import AppContext

class JobFollower(QObject):
    changed = Signal()  # the followed job moved on, or ended (then `running` is False)
    heard = Signal()  # any event of the runner

    def __init__(self, ctx: "AppContext", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = JobsModel(self)
        self._fetching: dict[int, "JobEvent"] = {}  # job being read: its latest event meanwhile
        ctx.jobs.event.connect(self._event)

    @property
    def running(self) -> bool:
        return self.model.rowCount() > 0

    @property
    def job_id(self) -> int | None:
        """The job followed now, if one runs."""
        return self.model.job(0).id if self.running else None

    def name(self) -> str:
        return str(self.model.index(0, 0).data() or "") if self.running else ""

    def text(self) -> str:
        return str(self.model.index(0, 2).data() or "") if self.running else ""

    def fraction(self) -> float | None:
        return self.model.index(0, 2).data(FractionRole) if self.running else None

    def _event(self, event: "JobEvent") -> None:
        self.heard.emit()
        if event.state in ENDED:
            if event.job_id in self._fetching:
                self._fetching[event.job_id] = event  # a read under way must not list it as running
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
        ended = latest is not None and latest.state in ENDED  # while it was being read
        if job.state in (JobState.QUEUED, JobState.RUNNING) and not ended:
            self.model.set_jobs([job])
            if latest is not None:
                self.model.apply_event(latest)  # what it said while it was read (its phase too)
        self.changed.emit()
