"""The persistent job queue: jobs live in the database, so they survive a restart.

States: queued -> running -> done | failed | cancelled; failed and cancelled jobs go back
to queued only when the user asks (`resume`), running ones when the process that ran them
died (`recover_stale`).

Two rules keep a restart from losing or repeating work:
- A job is marked done in the same transaction that records its Version, so there is never
  a done job without its version nor a version whose job would run again.
- Only the process holding the runner lock (jobs.lock) runs jobs, so a job marked running
  while the lock is free was left by a dead process and is safe to queue again.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Collection, Iterable, Mapping, Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from refldm_desktop.db.models import Job, JobState, Photo, Version, utcnow
from refldm_desktop.errors import JobError, JobNotFound  # noqa: F401 (also exported here)
from refldm_desktop.jobs.lock import RunnerLock

ACTIVE = (JobState.QUEUED, JobState.RUNNING, JobState.FAILED)  # what `jobs list` shows by default


# -- values handed out -------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRecord:
    """What a handler made: a new file and how it was made. The queue stores it as a
    Version row in the transaction that marks the job done."""

    output_path: Path  # absolute; the file exists and is complete
    output_sha256: str
    restorer: str
    model: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    # [{"face_id", "references": [ids], "steps", "cfg", "seed"}]: each face's own settings
    references_used: Sequence[Mapping[str, Any]] = ()
    face_status: Sequence[Mapping[str, Any]] = ()  # [{"face_id", "box", "person_id", "status"}]
    original_path: Path | None = None  # default: the job's photo's path
    original_sha256: str | None = None  # default: the job's photo's content hash


@dataclass(frozen=True)
class JobResult:
    """What a handler returns. `version` is None when nothing was written (for example no
    face could be restored); `summary` is kept on the job for the user either way."""

    version: VersionRecord | None = None
    summary: Mapping[str, Any] | None = None
    message: str | None = None


@dataclass(frozen=True)
class JobInfo:
    id: int
    kind: str
    batch_id: str
    photo_id: int | None
    photo: Path | None
    state: JobState
    payload: Mapping[str, Any]
    priority: int
    cancel_requested: bool
    faces_done: int
    faces_total: int | None
    step: int | None
    steps: int | None
    message: str | None
    error: str | None
    note: str | None
    result: Mapping[str, Any] | None
    staged: Mapping[str, Any] | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    version_id: int | None = None
    output: Path | None = None
    stage: str | None = None  # the phase it is in, for a job with phases (see Job.stage)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state.value,
            "batch": self.batch_id,
            "photo_id": self.photo_id,
            "photo": None if self.photo is None else str(self.photo),
            "priority": self.priority,
            "cancel_requested": self.cancel_requested,
            "progress": {
                "faces_done": self.faces_done,
                "faces_total": self.faces_total,
                "step": self.step,
                "steps": self.steps,
                "stage": self.stage,
            },
            "message": self.message,
            "error": self.error,
            "note": self.note,
            "attempts": self.attempts,
            "payload": dict(self.payload),
            "result": None if self.result is None else dict(self.result),
            "version_id": self.version_id,
            "output": None if self.output is None else str(self.output),
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }


@dataclass(frozen=True)
class VersionInfo:
    id: int
    photo_id: int | None
    job_id: int | None
    original: Path
    original_sha256: str | None
    output: Path
    output_sha256: str
    restorer: str
    model: str | None
    parameters: Mapping[str, Any]
    seed: int | None
    references_used: Sequence[Mapping[str, Any]]
    face_status: Sequence[Mapping[str, Any]]
    created_at: datetime
    kept_at: datetime | None = None  # when the user kept it (None: not decided, or discarded)

    @property
    def identity(self) -> dict[int, Mapping[str, Any]]:
        """Per restored face id, the identity guard's check (restore.identity): distances
        before and after, threshold and verdict. Faces restored before the guard existed,
        or whose check could not run, are absent."""
        return {int(f["face_id"]): f["identity"] for f in self.face_status if f.get("identity")}

    def sampling(self, face_id: int | None = None) -> dict[str, Any]:
        """Steps, cfg and seed a face was restored with (a face may have its own); the
        photo's for None, and for a face of a version recorded before faces had their own."""
        out = {"steps": self.parameters.get("steps"), "cfg": self.parameters.get("cfg"), "seed": self.seed}
        for used in self.references_used:
            if face_id is not None and int(used["face_id"]) == int(face_id):
                out.update({k: used[k] for k in out if used.get(k) is not None})
        return out

    @property
    def output_lost(self) -> bool:
        """The file this version wrote is gone (deleted or moved by the user)."""
        return not self.output.is_file()

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "photo_id": self.photo_id,
            "job_id": self.job_id,
            "output_lost": self.output_lost,
            "original": str(self.original),
            "original_sha256": self.original_sha256,
            "output": str(self.output),
            "output_sha256": self.output_sha256,
            "restorer": self.restorer,
            "model": self.model,
            "parameters": dict(self.parameters),
            "seed": self.seed,
            "references": [dict(r) for r in self.references_used],
            "faces": [dict(f) for f in self.face_status],
            "created_at": _iso(self.created_at),
        }


@dataclass(frozen=True)
class JobsEnqueued:
    batch_id: str
    queued: tuple[int, ...]  # new jobs
    existing: tuple[int, ...]  # the batch already had a job for these photos: left as they are


@dataclass(frozen=True)
class JobsCancelled:
    cancelled: tuple[int, ...]  # were queued; will not run
    stopping: tuple[int, ...]  # running; the runner stops them at their next cancel check
    unchanged: tuple[tuple[int, str], ...]  # (id, state): already finished


@dataclass(frozen=True)
class JobsResumed:
    requeued: tuple[int, ...]
    unchanged: tuple[tuple[int, str], ...]  # (id, state): queued, running or done already


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _join_note(old: str | None, new: str) -> str:
    return new if not old else f"{old}\n{new}"


# -- the queue ---------------------------------------------------------------------------


class JobQueue:
    """Jobs in the database. Thread-safe: writes are serialised by `write_lock` (share the
    Library's, so that indexing and the runner never write at the same moment)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        write_lock: threading.RLock | None = None,
        *,
        progress_interval: float = 0.5,
    ) -> None:
        self._Session = session_factory
        self._write = write_lock or threading.RLock()
        self.progress_interval = progress_interval
        self._last_progress: dict[int, float] = {}
        self._pending_progress: dict[int, dict[str, Any]] = {}

    # -- adding --------------------------------------------------------------------------

    def enqueue(
        self,
        kind: str,
        items: Iterable[tuple[int | None, Mapping[str, Any]]],
        *,
        batch_id: str | None = None,
        priority: int = 0,
    ) -> JobsEnqueued:
        """Queue one job per (photo id, payload). With the `batch_id` of an earlier run, a
        photo that already has a job in that batch is not queued again, whatever state
        that job is in (run `resume` for failed ones)."""
        items = list(items)
        batch_id = batch_id or uuid.uuid4().hex
        if len(batch_id) > 64:
            raise JobError("a batch id is at most 64 characters")
        photo_ids = [p for p, _ in items if p is not None]
        if len(set(photo_ids)) != len(photo_ids):
            raise JobError("a photo is listed twice in one batch")
        now = utcnow()
        queued: list[int] = []
        existing: list[int] = []
        with self._write, self._Session.begin() as s:
            if photo_ids:
                known = set(s.scalars(select(Photo.id).where(Photo.id.in_(photo_ids))))
                unknown = [p for p in photo_ids if p not in known]
                if unknown:
                    raise JobNotFound(f"no photo with id {', '.join(map(str, unknown))}")
            for photo_id, payload in items:
                stmt = (
                    sqlite_insert(Job)
                    .values(
                        kind=kind, batch_id=batch_id, photo_id=photo_id, payload=dict(payload),
                        priority=priority, state=JobState.QUEUED, cancel_requested=False,
                        faces_done=0, attempts=0, created_at=now, updated_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["batch_id", "photo_id"])
                    .returning(Job.id)
                )
                new_id = s.execute(stmt).scalar()
                if new_id is not None:
                    queued.append(new_id)
                else:
                    existing.append(
                        s.scalars(select(Job.id).where(Job.batch_id == batch_id, Job.photo_id == photo_id)).one()
                    )
        return JobsEnqueued(batch_id, tuple(queued), tuple(existing))

    # -- the runner's side -----------------------------------------------------------------

    def has_queued(self, kinds: Collection[str] | None = None, *, only: Collection[int] | None = None) -> bool:
        """Whether a queued job waits (only among the jobs `only` names, when given). Only
        reads: a runner asks this before it takes the runner lock."""
        if only is not None and not only:
            return False
        pick = _queued(kinds, only)
        with self._Session() as s:
            return s.execute(pick.limit(1)).first() is not None

    def claim_next(
        self, kinds: Collection[str] | None = None, *, batch_id: str | None = None,
        only: Collection[int] | None = None,
    ) -> JobInfo | None:
        """Mark the next queued job running and return it, or None when there is none
        (only among the jobs `only` names, when given). One UPDATE statement picks and marks
        the job, so two claimers never get the same one.
        """
        if only is not None and not only:
            return None
        pick = _queued(kinds, only)
        if batch_id is not None:
            pick = pick.where(Job.batch_id == batch_id)
        first = pick.order_by(Job.priority.desc(), Job.id).limit(1).scalar_subquery()
        now = utcnow()
        with self._write, self._Session.begin() as s:
            job_id = s.execute(
                update(Job)
                .where(Job.id == first, Job.state == JobState.QUEUED)
                .values(
                    state=JobState.RUNNING, attempts=Job.attempts + 1, started_at=now, updated_at=now,
                    finished_at=None, cancel_requested=False, error=None, message=None,
                    faces_done=0, faces_total=None, step=None, steps=None, stage=None,
                )
                .returning(Job.id)
            ).scalar()
        if job_id is None:
            return None
        self._last_progress.pop(job_id, None)
        self._pending_progress.pop(job_id, None)
        return self.job(job_id)

    def progress(self, job_id: int, *, force: bool = False, **fields: Any) -> bool:
        """Record progress (faces_done, faces_total, step, steps, message, stage). Writes at
        most once per `progress_interval` seconds per job unless `force`; the latest values
        are kept and written with the next write. Returns whether it wrote."""
        allowed = {"faces_done", "faces_total", "step", "steps", "message", "stage"}
        bad = set(fields) - allowed
        if bad:
            raise TypeError(f"unknown progress fields: {', '.join(sorted(bad))}")
        pending = self._pending_progress.setdefault(job_id, {})
        pending.update(fields)
        now = time.monotonic()
        if not force and now - self._last_progress.get(job_id, float("-inf")) < self.progress_interval:
            return False
        values = self._pending_progress.pop(job_id)
        self._last_progress[job_id] = now
        with self._write, self._Session.begin() as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.RUNNING)
                .values(**values, updated_at=utcnow())
            )
        return True

    def add_note(self, job_id: int, note: str) -> None:
        with self._write, self._Session.begin() as s:
            job = self._get(s, job_id)
            job.note = _join_note(job.note, note)
            job.updated_at = utcnow()

    def is_cancel_requested(self, job_id: int) -> bool:
        with self._Session() as s:
            row = s.execute(select(Job.state, Job.cancel_requested).where(Job.id == job_id)).first()
        # A job removed or no longer running under us must stop too.
        return row is None or row.cancel_requested or row.state != JobState.RUNNING

    def stage(self, job_id: int, directory: Path, sha256: str, size: int) -> None:
        """Remember an output about to be written, before writing it (see Job.staged)."""
        with self._write, self._Session.begin() as s:
            job = self._get(s, job_id)
            job.staged = {"dir": str(directory), "sha256": sha256, "size": int(size)}

    def clear_staged(self, job_id: int) -> None:
        with self._write, self._Session.begin() as s:
            self._get(s, job_id).staged = None

    def complete(self, job_id: int, result: JobResult | None = None) -> int | None:
        """Mark a running job done and record its version, in one transaction.
        Returns the new version's id (None when the job made no file)."""
        result = result or JobResult()
        pending = self._pending_progress.pop(job_id, {})
        self._last_progress.pop(job_id, None)
        with self._write, self._Session.begin() as s:
            job = self._get(s, job_id)
            if job.state != JobState.RUNNING:
                raise JobError(f"job {job_id} is {job.state}, not running; its result is not recorded")
            version_id = None
            if result.version is not None:
                version_id = self._add_version(s, job, result.version)
            for k, v in pending.items():
                setattr(job, k, v)
            if job.faces_total is not None:
                job.faces_done = job.faces_total
            job.state = JobState.DONE
            job.result = None if result.summary is None else dict(result.summary)
            if result.message:
                job.message = result.message
            job.staged = None
            job.cancel_requested = False
            job.finished_at = job.updated_at = utcnow()
        return version_id

    def _add_version(self, s: Session, job: Job, v: VersionRecord) -> int:
        photo = s.get(Photo, job.photo_id) if job.photo_id is not None else None
        original = v.original_path or (Path(photo.path) if photo is not None else None)
        if original is None:
            raise JobError(f"job {job.id} has no photo; its version must name the original")
        row = Version(
            photo_id=job.photo_id,
            job_id=job.id,
            original_path=str(original),
            original_sha256=v.original_sha256 or (photo.content_hash if photo is not None else None),
            output_path=str(Path(v.output_path).absolute()),
            output_sha256=v.output_sha256,
            restorer=v.restorer,
            model=v.model,
            parameters=dict(v.parameters),
            seed=v.seed,
            references_used=[dict(r) for r in v.references_used],
            face_status=[dict(f) for f in v.face_status],
        )
        s.add(row)
        s.flush()
        return row.id

    def fail(self, job_id: int, error: str) -> None:
        self._finish(job_id, JobState.FAILED, error=error)

    def mark_cancelled(self, job_id: int) -> None:
        """The runner stopped a job the user cancelled."""
        self._finish(job_id, JobState.CANCELLED)

    def _finish(self, job_id: int, state: JobState, error: str | None = None) -> None:
        pending = self._pending_progress.pop(job_id, {})
        self._last_progress.pop(job_id, None)
        with self._write, self._Session.begin() as s:
            job = self._get(s, job_id)
            for k, v in pending.items():
                setattr(job, k, v)
            job.state = state
            job.error = error
            job.cancel_requested = False
            job.finished_at = job.updated_at = utcnow()

    def requeue(self, job_id: int, note: str | None = None) -> None:
        """Put a running job back in the queue (the app is stopping or was interrupted).
        Its staged output, if any, stays recorded so the next attempt cleans it up."""
        self._pending_progress.pop(job_id, None)
        self._last_progress.pop(job_id, None)
        with self._write, self._Session.begin() as s:
            job = self._get(s, job_id)
            if job.state != JobState.RUNNING:
                return
            job.state = JobState.QUEUED
            job.cancel_requested = False
            job.updated_at = utcnow()
            if note:
                job.note = _join_note(job.note, note)

    def requeue_running(self, note: str) -> tuple[int, ...]:
        """Queue again every job marked running. Only for a caller holding the runner lock:
        then no live process is running any of them."""
        with self._write, self._Session.begin() as s:
            jobs = s.scalars(select(Job).where(Job.state == JobState.RUNNING).order_by(Job.id)).all()
            for job in jobs:
                job.state = JobState.QUEUED
                job.cancel_requested = False
                job.note = _join_note(job.note, note)
                job.updated_at = utcnow()
            return tuple(j.id for j in jobs)

    def recover_stale(self, lock: RunnerLock) -> tuple[int, ...]:
        """On opening: jobs left running by a process that died go back to the queue.
        Does nothing while a live runner holds the lock (its jobs really are running)."""
        if lock.held:
            return ()
        with self._Session() as s:
            if s.scalar(select(Job.id).where(Job.state == JobState.RUNNING).limit(1)) is None:
                return ()  # the common case costs one query and no lock file
        if not lock.acquire():
            return ()
        try:
            return self.requeue_running(
                "interrupted: the app stopped while this job ran; queued again"
            )
        finally:
            lock.release()

    # -- the user's verbs ----------------------------------------------------------------

    def cancel(self, ids: Sequence[int]) -> JobsCancelled:
        cancelled: list[int] = []
        stopping: list[int] = []
        unchanged: list[tuple[int, str]] = []
        with self._write, self._Session.begin() as s:
            jobs = self._get_many(s, ids)
            now = utcnow()
            for job in jobs:
                if job.state == JobState.QUEUED:
                    job.state = JobState.CANCELLED
                    job.finished_at = job.updated_at = now
                    cancelled.append(job.id)
                elif job.state == JobState.RUNNING:
                    job.cancel_requested = True
                    job.updated_at = now
                    stopping.append(job.id)
                else:
                    unchanged.append((job.id, job.state))
        return JobsCancelled(tuple(cancelled), tuple(stopping), tuple(unchanged))

    def withdraw(self, ids: Sequence[int]) -> tuple[int, ...]:
        """Remove jobs that are still queued, as if never asked for (a command that queued
        them and then could not run them). Returns the ids removed; others are left."""
        if not ids:
            return ()
        with self._write, self._Session.begin() as s:
            gone = tuple(s.scalars(
                delete(Job).where(Job.id.in_(list(ids)), Job.state == JobState.QUEUED).returning(Job.id)
            ))
        return gone

    def resume(self, ids: Sequence[int] | None = None) -> JobsResumed:
        """Queue failed and cancelled jobs again: the given ones, or all of them."""
        requeued: list[int] = []
        unchanged: list[tuple[int, str]] = []
        with self._write, self._Session.begin() as s:
            if ids is None:
                jobs = s.scalars(
                    select(Job)
                    .where(Job.state.in_([JobState.FAILED, JobState.CANCELLED]))
                    .order_by(Job.id)
                ).all()
            else:
                jobs = self._get_many(s, ids)
            now = utcnow()
            for job in jobs:
                if job.state in (JobState.FAILED, JobState.CANCELLED):
                    job.state = JobState.QUEUED
                    job.error = None
                    job.cancel_requested = False
                    job.finished_at = None
                    job.updated_at = now
                    requeued.append(job.id)
                else:
                    unchanged.append((job.id, job.state))
        return JobsResumed(tuple(requeued), tuple(unchanged))

    # -- queries -------------------------------------------------------------------------

    def _select(self):
        return (
            select(Job, Photo.path, Version.id, Version.output_path)
            .outerjoin(Photo, Photo.id == Job.photo_id)
            .outerjoin(Version, Version.job_id == Job.id)
        )

    @staticmethod
    def _info(row) -> JobInfo:
        j, photo_path, version_id, output = row
        return JobInfo(
            id=j.id, kind=j.kind, batch_id=j.batch_id, photo_id=j.photo_id,
            photo=None if photo_path is None else Path(photo_path), state=JobState(j.state),
            payload=dict(j.payload or {}), priority=j.priority, cancel_requested=j.cancel_requested,
            faces_done=j.faces_done, faces_total=j.faces_total, step=j.step, steps=j.steps,
            message=j.message, error=j.error, note=j.note,
            result=None if j.result is None else dict(j.result),
            staged=None if j.staged is None else dict(j.staged),
            attempts=j.attempts, created_at=j.created_at, started_at=j.started_at,
            finished_at=j.finished_at, version_id=version_id,
            output=None if output is None else Path(output), stage=j.stage,
        )

    def job(self, job_id: int) -> JobInfo:
        with self._Session() as s:
            row = s.execute(self._select().where(Job.id == job_id)).first()
        if row is None:
            raise JobNotFound(f"no job with id {job_id}")
        return self._info(row)

    def jobs(
        self,
        states: Collection[str] | None = None,
        *,
        batch_id: str | None = None,
        photo_id: int | None = None,
    ) -> list[JobInfo]:
        q = self._select().order_by(Job.id)
        if states is not None:
            q = q.where(Job.state.in_(list(states)))
        if batch_id is not None:
            q = q.where(Job.batch_id == batch_id)
        if photo_id is not None:
            q = q.where(Job.photo_id == photo_id)
        with self._Session() as s:
            return [self._info(r) for r in s.execute(q)]

    def versions(self, photo_id: int | None = None, *, include_discarded: bool = False) -> list[VersionInfo]:
        q = select(Version).order_by(Version.id)
        if not include_discarded:
            q = q.where(Version.discarded_at.is_(None))
        if photo_id is not None:
            q = q.where(Version.photo_id == photo_id)
        with self._Session() as s:
            return [
                VersionInfo(
                    id=v.id, photo_id=v.photo_id, job_id=v.job_id, original=Path(v.original_path),
                    original_sha256=v.original_sha256, output=Path(v.output_path),
                    output_sha256=v.output_sha256, restorer=v.restorer, model=v.model,
                    parameters=dict(v.parameters or {}), seed=v.seed,
                    references_used=list(v.references_used or []),
                    face_status=list(v.face_status or []), created_at=v.created_at,
                    kept_at=v.kept_at,
                )
                for v in s.scalars(q)
            ]

    def keep_version(self, version_id: int) -> VersionInfo:
        """The user wants this result: record when (the first time; keeping again changes
        nothing). A discarded version cannot be kept: its file is gone."""
        with self._write, self._Session.begin() as s:
            v = s.get(Version, version_id)
            if v is None or v.discarded_at is not None:
                raise JobNotFound(f"no restored version with id {version_id}" + (" (it was discarded)" if v else ""))
            if v.kept_at is None:
                v.kept_at = utcnow()
        return next(i for i in self.versions() if i.id == version_id)

    def discard_version(self, version_id: int) -> tuple[VersionInfo, bool]:
        """The user does not want this result: mark it discarded, then remove its file if
        it is still the file that was made (same sha256). The record stays. Returns the
        version and whether the file was removed."""
        import hashlib

        with self._write, self._Session.begin() as s:
            v = s.get(Version, version_id)
            if v is None or v.discarded_at is not None:
                raise JobNotFound(f"no restored version with id {version_id}" + (" (it was discarded)" if v else ""))
            v.discarded_at = utcnow()
            output, sha = Path(v.output_path), v.output_sha256
        info = next(i for i in self.versions(include_discarded=True) if i.id == version_id)
        try:
            with open(output, "rb") as f:
                same = hashlib.file_digest(f, "sha256").hexdigest() == sha
        except FileNotFoundError:
            return info, False
        if same:  # never remove a file that replaced ours since
            output.unlink(missing_ok=True)
        return info, same

    def output_paths(self) -> set[str]:
        """Every output file a version records (the runner never deletes those)."""
        with self._Session() as s:
            return set(s.scalars(select(Version.output_path)))

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _get(s: Session, job_id: int) -> Job:
        job = s.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"no job with id {job_id}")
        return job

    @staticmethod
    def _get_many(s: Session, ids: Sequence[int]) -> list[Job]:
        ids = list(dict.fromkeys(ids))
        jobs = {j.id: j for j in s.scalars(select(Job).where(Job.id.in_(ids)))}
        unknown = [i for i in ids if i not in jobs]
        if unknown:
            raise JobNotFound(f"no job with id {', '.join(map(str, unknown))}")
        return [jobs[i] for i in ids]


def _queued(kinds: Collection[str] | None, only: Collection[int] | None):
    """The ids of queued jobs, of these kinds and among `only` when given (claim_next and
    has_queued must pick from the same jobs)."""
    pick = select(Job.id).where(Job.state == JobState.QUEUED)
    if only is not None:
        pick = pick.where(Job.id.in_(list(only)))
    if kinds is not None:
        pick = pick.where(Job.kind.in_(list(kinds)))
    return pick
