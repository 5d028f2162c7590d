"""The job verbs of a Library (`library.jobs`): queue restorations, list, cancel and resume
jobs, list versions, and make the runner that does the work.

Errors come out as LibraryError / NotFound like every other Library verb.
"""

from __future__ import annotations

import builtins
import math
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from sqlalchemy import select

from refldm_desktop.core.changes import LibraryError, NotFound
from refldm_desktop.core.events import Change
from refldm_desktop.core.progress import Progress, ProgressFn
from refldm_desktop.core.restoring import FACE_SETTINGS, SEED_LIMIT, face_settings
from refldm_desktop.db.models import Photo
from refldm_desktop.defaults import DEFAULT_RESTORER, check_device
from refldm_desktop.jobs.lock import RunnerBusy, RunnerLock
from refldm_desktop.jobs.queue import (
    ACTIVE,
    JobError,
    JobInfo,
    JobNotFound,
    JobQueue,
    JobsCancelled,
    JobsEnqueued,
    JobsResumed,
    VersionInfo,
)
from refldm_desktop.jobs.runner import (
    EventCallback,
    HandlerRegistry,
    JobEvent,
    Runner,
    RunSummary,
    default_handlers,
)
from refldm_desktop.db.models import JobState

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library

@dataclass(frozen=True)
class VersionDiscarded:
    version_id: int
    photo_id: int | None
    output: Path
    file_removed: bool  # False when the file was gone already or replaced by another


RESTORE_KIND = "restore_photo"


def _checked_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """A restore job's options, with its FACE_SETTINGS checked and stored in one form, so a
    bad value is refused before anything is queued."""
    out = dict(options or {})
    if out.get(FACE_SETTINGS) is not None:
        out[FACE_SETTINGS] = {str(k): v.to_json() for k, v in face_settings(out[FACE_SETTINGS]).items()}
    return out

PhotoRef = int | str | os.PathLike[str]


def _translate(fn):
    """Job-layer errors as the Library's own, so callers catch one family."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except JobNotFound as exc:
            raise NotFound(str(exc)) from exc
        except (JobError, RunnerBusy) as exc:
            raise LibraryError(str(exc)) from exc

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


class Jobs:
    def __init__(self, library: "Library") -> None:
        self._lib = library
        # Its own write lock, not the Library's: indexing holds that one for a whole run,
        # and the GPU worker must not wait for it. Across connections SQLite's busy timeout
        # orders the (short) write transactions.
        self.queue = JobQueue(library._Session, threading.RLock())

    @property
    def lock_path(self) -> Path:
        return self._lib.home.root / "runner.lock"

    def recover(self) -> tuple[int, ...]:
        """Queue again the jobs a dead process left running (done on opening)."""
        return self.queue.recover_stale(RunnerLock(self.lock_path))

    # -- queueing ------------------------------------------------------------------------

    def photo_id(self, photo: PhotoRef) -> int:
        """A photo's id from its id or its path (as indexed)."""
        with self._lib._Session() as s:
            if isinstance(photo, int) or (isinstance(photo, str) and photo.isdigit()):
                pid = int(photo)
                if s.get(Photo, pid) is None:
                    raise NotFound(f"no photo with id {pid}")
                return pid
            path = Path(photo).expanduser()
            candidates = [str(path.absolute()), os.path.realpath(path)]
            for c in candidates:
                found = s.scalar(select(Photo.id).where(Photo.path == c))
                if found is not None:
                    return found
        raise NotFound(f"{photo} is not in the library; index its folder first")

    @_translate
    def enqueue_restore(
        self,
        photos: Sequence[PhotoRef],
        *,
        restorer: str = DEFAULT_RESTORER,
        model: str | None = None,
        steps: int | None = None,
        cfg: float | None = None,
        seed: int | None = None,
        device: str = "auto",
        output_dir: str | os.PathLike[str] | None = None,
        options: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
        priority: int = 0,
        per_photo: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> JobsEnqueued:
        """Queue a "restore_photo" job per photo. With the `batch_id` of an earlier run,
        photos that already have a job in that batch are not queued again. `per_photo` adds
        job options to a photo's job, over `options` (keyed by photo id).

        All or nothing: every photo's options are checked before any job is queued, and the
        jobs are queued in one transaction. The seed is fixed now (a random one when not
        given), so a job resumed after a restart produces the same result it would have.
        """
        if steps is not None and steps < 1:
            raise LibraryError(f"steps must be at least 1, got {steps}")
        if cfg is not None and (not math.isfinite(cfg) or cfg < 0):
            raise LibraryError(f"cfg must be a number >= 0, got {cfg}")
        try:
            check_device(device)
        except ValueError as exc:
            raise LibraryError(f"unknown device {device!r}: {exc}") from None
        if seed is not None and not 0 <= seed < SEED_LIMIT:
            raise LibraryError(f"seed must be between 0 and {SEED_LIMIT - 1}, got {seed}")
        options = _checked_options(options)
        out = Path(output_dir).expanduser().absolute() if output_dir else self._lib.home.restored
        if out.exists() and not out.is_dir():
            raise LibraryError(f"the output folder {out} is a file, not a folder")
        ids = list(dict.fromkeys(self.photo_id(p) for p in photos))
        if not ids:
            raise LibraryError("no photo given")
        own: dict[int, dict[str, Any]] = {}
        for pid in ids:
            if per_photo and per_photo.get(pid):
                try:
                    own[pid] = _checked_options({**options, **per_photo[pid]})
                except LibraryError as exc:
                    raise LibraryError(f"{self._photo_path(pid)}: {exc}; nothing was queued") from None
        seed = secrets.randbelow(2**31) if seed is None else int(seed)
        payload = {
            "restorer": restorer,
            "model": model,
            "steps": steps,
            "cfg": cfg,
            "seed": seed,
            "device": device,
            "output_dir": str(out),
            "options": options,
        }
        r = self.queue.enqueue(
            RESTORE_KIND,
            [(pid, {"photo_id": pid, **payload, "options": own.get(pid, options)}) for pid in ids],
            batch_id=batch_id,
            priority=priority,
        )
        if r.queued:
            self._lib._emit(Change.of(jobs=r.queued))
        return r

    def _photo_path(self, photo_id: int) -> str:
        with self._lib._Session() as s:
            return s.scalar(select(Photo.path).where(Photo.id == photo_id)) or f"photo {photo_id}"

    # -- queries -------------------------------------------------------------------------

    @_translate
    def list(
        self,
        *,
        all: bool = False,
        states: Sequence[str] | None = None,
        batch_id: str | None = None,
        photo: PhotoRef | None = None,
    ) -> list[JobInfo]:
        """Jobs in queue order of creation: by default those queued, running or failed;
        with `all`, done and cancelled ones too."""
        if states is None and not all:
            states = ACTIVE
        photo_id = None if photo is None else self.photo_id(photo)
        return self.queue.jobs(states, batch_id=batch_id, photo_id=photo_id)

    @_translate
    def get(self, job_id: int) -> JobInfo:
        return self.queue.job(job_id)

    @_translate
    def versions(
        self, photo: PhotoRef | None = None, *, include_discarded: bool = False
    ) -> builtins.list[VersionInfo]:  # `list` here is Jobs.list
        """Restored versions (of one photo, or all), oldest first; discarded ones only
        when asked."""
        return self.queue.versions(None if photo is None else self.photo_id(photo), include_discarded=include_discarded)

    @_translate
    def keep_version(self, version_id: int) -> "VersionInfo":
        """Record that the user kept a restored version (its file stays where it is)."""
        info = self.queue.keep_version(version_id)
        self._lib._emit(Change.of(versions=[version_id], photos=[info.photo_id]))
        return info

    @_translate
    def discard_version(self, version_id: int) -> VersionDiscarded:
        """Remove a restored version's file (only if it is still the file that was made)
        and mark the version discarded; the original is never touched."""
        info, removed = self.queue.discard_version(version_id)
        self._lib._emit(Change.of(versions=[version_id], photos=[info.photo_id]))
        return VersionDiscarded(version_id, info.photo_id, info.output, removed)

    # -- the user's verbs ----------------------------------------------------------------

    @_translate
    def cancel(self, ids: Sequence[int]) -> JobsCancelled:
        if not ids:
            raise LibraryError("give the ids of the jobs to cancel")
        r = self.queue.cancel(ids)
        if r.cancelled or r.stopping:
            self._lib._emit(Change.of(jobs=r.cancelled + r.stopping))
        return r

    @_translate
    def resume(self, ids: Sequence[int] | None = None) -> JobsResumed:
        """Queue failed and cancelled jobs again (the given ones, or all)."""
        r = self.queue.resume(list(ids) if ids else None)
        if r.requeued:
            self._lib._emit(Change.of(jobs=r.requeued))
        return r

    # -- doing the work ------------------------------------------------------------------

    def runner(
        self,
        handlers: HandlerRegistry | None = None,
        *,
        on_event: EventCallback | None = None,
        progress: ProgressFn | None = None,
        **options: Any,
    ) -> Runner:
        """The one runner of this library (start() it for the GUI). Besides `on_event`,
        every turn of a job is told to the library's subscribers as a Change, and to
        `progress` as a Progress of stage "restore" (faces done of the job's faces)."""
        lib = self._lib
        latest: dict[int, dict[str, Any]] = {}  # a job's counts so far: events carry what changed

        def told(event: JobEvent) -> None:
            if progress is not None:
                counts = latest.setdefault(event.job_id, {})
                for k in ("faces_done", "faces_total", "step", "steps"):
                    if getattr(event, k) is not None:
                        counts[k] = getattr(event, k)
                if event.state != JobState.RUNNING:
                    latest.pop(event.job_id, None)
                progress(job_progress(event, counts))
            if event.version_id is None:
                lib._emit(Change.of(jobs=[event.job_id]))
            else:
                lib._emit(Change.of(jobs=[event.job_id], versions=[event.version_id], photos=[event.photo_id]))
            if on_event is not None:
                on_event(event)

        return Runner(
            self.queue,
            handlers if handlers is not None else default_handlers(),
            RunnerLock(self.lock_path),
            on_event=told,
            library=self._lib,
            **options,
        )

    @_translate
    def run(
        self,
        handlers: HandlerRegistry | None = None,
        *,
        batch_id: str | None = None,
        on_event: EventCallback | None = None,
        progress: ProgressFn | None = None,
        **options: Any,
    ) -> RunSummary:
        """Work through the queue now, in this thread (the CLI)."""
        runner = self.runner(handlers, on_event=on_event, progress=progress, **options)
        return runner.run_until_empty(batch_id=batch_id)


def job_progress(event: JobEvent, counts: dict[str, Any] | None = None) -> Progress:
    """A job's turn as the one Progress shape: faces done of its faces, and the step.
    `counts` are the job's latest counts (an event carries only those that changed)."""
    c = {k: getattr(event, k) for k in ("faces_done", "faces_total", "step", "steps")}
    c.update({k: v for k, v in (counts or {}).items() if v is not None})
    parts = [f"job {event.job_id}: {event.state}"]
    if c["steps"]:
        parts.append(f"step {c['step'] or 0}/{c['steps']}")
    text = event.error or event.note or event.message
    if text:
        parts.append(text)
    return Progress("restore", c["faces_done"] or 0, c["faces_total"], ", ".join(parts))
