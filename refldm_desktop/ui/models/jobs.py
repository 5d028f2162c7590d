"""Jobs as a table: what each job restores, its state, its progress with the time left,
and its error or note. Runner events update a row in place between full refreshes."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from refldm_desktop.core.restoring import preview_plan
from refldm_desktop.jobs.queue import JobInfo
from refldm_desktop.ui.advice import for_app
from refldm_desktop.ui.models import Index
from refldm_desktop.jobs.runner import FULL_STAGE, PREVIEW_STAGE, JobEvent
from refldm_desktop.ui.models.rows import sync_rows
from refldm_desktop.db.models import ENDED, JobState

COLUMNS = ("Photo", "State", "Progress", "Details")
JobIdRole = Qt.ItemDataRole.UserRole + 1
FractionRole = Qt.ItemDataRole.UserRole + 2  # 0..1 while running with a known total, else None
StateRole = Qt.ItemDataRole.UserRole + 3


def fraction(job: JobInfo, stage: str | None = None) -> float | None:
    """How much of the job is done: faces done, plus the current face's share of steps. A
    restore that makes a quick preview first counts its steps within each phase (`stage`):
    the preview is its share of all the steps of both, so the bar and the time left run on
    through both phases instead of starting again."""
    if not job.faces_total:
        return None
    part = (job.step or 0) / job.steps if job.steps else 0.0
    done = min(1.0, (job.faces_done + part) / job.faces_total)
    plan = preview_plan(job.payload) if stage in (PREVIEW_STAGE, FULL_STAGE) else None
    if plan is None:
        return done
    quick, full = plan
    share = quick / (quick + full)
    return share * done if stage == PREVIEW_STAGE else share + (1.0 - share) * done


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def progress_text(job: JobInfo, left: float | None = None, stage: str | None = None, previewed: bool = False) -> str:
    if job.state != JobState.RUNNING:
        return {"queued": "waiting", "done": "done", "failed": "failed", "cancelled": "cancelled"}.get(
            job.state, job.state
        )
    parts = []
    if stage == PREVIEW_STAGE:
        parts.append("quick preview")
    elif stage == FULL_STAGE:
        parts.append("preview ready" if previewed else "full result")
    if job.faces_total:
        parts.append(f"face {min(job.faces_done + 1, job.faces_total)} of {job.faces_total}")
    if job.steps:
        parts.append(f"step {job.step or 0} of {job.steps}")
    if left is not None:
        parts.append(f"about {duration(left)} left")
    return " · ".join(parts) or "starting"


class Eta:
    """Time left per job from its pace so far: wall-clock seconds per share of the work,
    measured within the job's current phase. A restore's quick preview and its full run
    make the same model calls per step (the same faces, references and batches), but the
    preview also pays once for encoding the references: the full run's pace is measured
    from its own steps as soon as it has some, the preview's meanwhile."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        # job id -> (phase start time, share done then, phase, seconds per share so far,
        # the most done heard of)
        self._start: dict[int, tuple[float, float, str | None, float | None, float]] = {}

    def update(self, job: JobInfo, f: float | None, stage: str | None = None) -> float | None:
        """Seconds left of `job`, which has `f` of its work done, in phase `stage`."""
        if job.state != JobState.RUNNING or f is None:
            self._start.pop(job.id, None)
            return None
        now = self._clock()
        t0, f0, phase, pace, most = self._start.get(job.id) or (now, f, stage, None, f)
        if stage != phase:
            t0, f0, phase, most = now, f, stage, f
        # The pace is measured when the work moves on: a listing read later that says no
        # more (or, from the database, less) than the events did must not slow it, or the
        # Jobs page said "about 2 min left" where the status bar said 41 s.
        if f > most and now > t0:
            pace = (now - t0) / (f - f0)
            most = f
        self._start[job.id] = (t0, f0, phase, pace, most)
        return None if pace is None else pace * (1.0 - max(f, most))


class JobsModel(QAbstractTableModel):
    def __init__(self, parent=None, *, clock=time.monotonic) -> None:
        super().__init__(parent)
        self._jobs: list[JobInfo] = []
        self._left: dict[int, float | None] = {}
        self._eta = Eta(clock)
        # Heard from the runner's events only (the database keeps neither): the phase each
        # running job is in, and the preview it showed.
        self._stage: dict[int, str] = {}
        self._preview: dict[int, str] = {}

    def set_jobs(self, jobs: Sequence[JobInfo]) -> None:
        for j in jobs:
            self._track(j)
        sync_rows(self, self._jobs, list(jobs), key=lambda j: j.id, columns=len(COLUMNS))

    def _track(self, job: JobInfo) -> None:
        # Only an end forgets the phase: a listing read just before the job started says
        # "queued" while its events already tell of a preview, and must not undo them.
        if job.state in ENDED:
            self._stage.pop(job.id, None)
            self._preview.pop(job.id, None)
        self._left[job.id] = self._eta.update(job, self.fraction(job), self._stage_of(job))

    def fraction(self, job: JobInfo) -> float | None:
        return fraction(job, self._stage_of(job))

    def _stage_of(self, job: JobInfo) -> str | None:
        # Heard from this app's runner, else as the database has it (a job another process
        # runs, or one listed before its events came).
        return self._stage.get(job.id) or (job.stage if job.state == JobState.RUNNING else None)

    def stage(self, job_id: int) -> str | None:
        row = self.row_of(job_id)
        return self._stage_of(self._jobs[row]) if row >= 0 else self._stage.get(job_id)

    def preview(self, job_id: int) -> str | None:
        """The path of the quick preview a running job showed, if it did."""
        return self._preview.get(job_id)

    def apply_event(self, event: JobEvent) -> bool:
        """Update a listed job from a runner event; False when the job is not listed (the
        caller then fetches the list again)."""
        # Kept even for a job not listed yet: the listing that shows it carries no phase.
        if event.stage:
            self._stage[event.job_id] = event.stage
        if event.preview:
            self._preview[event.job_id] = event.preview
        if event.state in ENDED:
            self._stage.pop(event.job_id, None)
            self._preview.pop(event.job_id, None)
        for row, job in enumerate(self._jobs):
            if job.id != event.job_id:
                continue
            fields: dict[str, Any] = {"state": event.state}
            for name in ("faces_done", "faces_total", "step", "steps", "message", "error", "version_id", "stage"):
                value = getattr(event, name)
                if value is not None:
                    fields[name] = value
            if event.note:
                fields["note"] = f"{job.note}\n{event.note}" if job.note else event.note
            new = replace(job, **fields)
            self._jobs[row] = new
            self._track(new)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
            return True
        return False

    def job(self, row: int) -> JobInfo:
        return self._jobs[row]

    def row_of(self, job_id: int) -> int:
        return next((r for r, j in enumerate(self._jobs) if j.id == job_id), -1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._jobs)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._jobs):
            return None
        job = self._jobs[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if col == 0:
                return job.photo.name if job.photo else f"{job.kind} {job.id}"
            if col == 1:
                return job.state + (" (cancelling)" if job.cancel_requested and job.state == JobState.RUNNING else "")
            if col == 2:
                return progress_text(job, self._left.get(job.id), self._stage_of(job), job.id in self._preview)
            if col == 3:
                return for_app(job.error or job.message or (job.note.splitlines()[-1] if job.note else ""))
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [str(job.photo) if job.photo else job.kind, f"job {job.id}, batch {job.batch_id}"]
            lines += [for_app(x) for x in (job.error, job.note) if x]
            return "\n".join(lines)
        if role == JobIdRole:
            return job.id
        if role == FractionRole:
            return self.fraction(job) if job.state == JobState.RUNNING else None
        if role == StateRole:
            return job.state
        return None
