"""The job runner: ONE worker that owns the GPU and works through the queue in order.

A handler is registered per job kind and called with a JobContext:

    def handler(ctx: JobContext) -> JobResult | None

It reads what to do from `ctx.payload`, reports progress with `ctx.progress(...)`, checks
`ctx.is_cancelled()` (or calls `ctx.check_cancelled()`) between units of work, uses
`ctx.batch_size` and `ctx.device` as hints, calls `ctx.stage_output(dir, data)` right before
writing its output file, and returns a JobResult (with a VersionRecord when it wrote a file).
The runner marks the job done together with its version, or failed / cancelled / queued
again, and tells `on_event` (a plain callback; the GUI turns it into a signal) at each turn.

Out of memory: when a handler raises CUDA's OutOfMemoryError (recognised by class name or
an "out of memory" message, so torch is never imported here), the runner calls it again
with half the batch size, and at batch size 1 on the CPU, and writes a note on the job.

Two ways to run: `start()` runs a background thread for the GUI; `run_until_empty()` works
in the calling thread for the CLI, and on Ctrl-C puts the running job back in the queue.
Only one runner per library runs at a time (jobs.lock), across processes.
"""

from __future__ import annotations

import fnmatch
import gc
import hashlib
import importlib
import logging
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from refldm_desktop.db.models import JobState
from refldm_desktop.errors import is_out_of_memory
from refldm_desktop.jobs.lock import RunnerBusy, RunnerLock
from refldm_desktop.jobs.queue import JobInfo, JobQueue, JobResult

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 8
# The temporary files of library.output.write_new_file: hidden, in the destination folder.
OUTPUT_TEMP_PATTERN = ".refldm-*.part"
INTERRUPTED_NOTE = "interrupted: the app stopped while this job ran; queued again"


class JobCancelled(Exception):
    """Raised by `JobContext.check_cancelled` when the job should stop."""


def _free_accelerator_memory() -> None:
    torch = sys.modules.get("torch")  # only if someone already loaded it
    if torch is None:
        return
    gc.collect()  # tensors kept alive by reference cycles (tracebacks, closures)
    try:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - freeing memory is best effort
        log.debug("could not empty the CUDA cache", exc_info=True)


def _positive_int(value: Any, default: int) -> int:
    try:
        return max(1, int(value)) if value is not None else default
    except (TypeError, ValueError):
        return default


def _is_cpu(device: str) -> bool:
    return device.strip().lower().startswith("cpu")


def describe_error(exc: BaseException) -> str:
    """A line for the user: the message of our own errors, type and message of a bug."""
    from refldm_desktop.errors import translate

    known = translate(exc)  # ours, or a full disk, a locked or damaged database
    if known is not None:
        return str(known)
    if type(exc).__module__.startswith("sqlalchemy"):
        # Its text holds the SQL statement and its parameters: not for the user.
        orig = getattr(exc, "orig", None) or exc
        return f"unexpected database error ({type(orig).__name__}); please report it"
    text = str(exc)
    if type(exc).__module__ == "builtins" or not text:
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


# -- what handlers see -------------------------------------------------------------------


# Phases of a restore that shows a quick preview first.
PREVIEW_STAGE = "preview"
FULL_STAGE = "full"


@dataclass(frozen=True)
class JobEvent:
    """One report from the runner, in one shape for every turn of a job."""

    job_id: int
    kind: str
    state: JobState
    batch_id: str
    photo_id: int | None
    faces_done: int | None = None
    faces_total: int | None = None
    step: int | None = None
    steps: int | None = None
    message: str | None = None  # progress text from the handler
    note: str | None = None  # something the user should know (also kept on the job)
    error: str | None = None
    version_id: int | None = None
    preview: str | None = None  # a quick low-step result to show while the full one runs
    # The phase a job with phases is in (PREVIEW_STAGE, then FULL_STAGE): its steps count
    # within the phase. Not kept on the job: listeners remember it.
    stage: str | None = None


EventCallback = Callable[[JobEvent], None]


class _CancelToken:
    """Set here when the GUI cancels or stops; the database flag covers a cancel from
    another process (`jobs cancel` while the GUI runs), read at most every `interval` s.
    It answers like core.progress.CancelToken (cancel, cancelled, raise_if_cancelled)."""

    def __init__(self, queue: JobQueue, job_id: int, interval: float) -> None:
        self._queue = queue
        self._job_id = job_id
        self._interval = interval
        self._event = threading.Event()
        self._last_check = time.monotonic()
        self.reason: str | None = None  # "cancel" (the user) or "stop" (the app is closing)

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self._event.set()

    def cancel(self) -> None:
        self.request("cancel")

    @property
    def cancelled(self) -> bool:
        return self.is_set()

    def raise_if_cancelled(self) -> None:
        if self.is_set():
            raise JobCancelled("cancelled")

    def is_set(self) -> bool:
        if self._event.is_set():
            return True
        now = time.monotonic()
        if now - self._last_check >= self._interval:
            self._last_check = now
            if self._queue.is_cancel_requested(self._job_id):
                self.request("cancel")
        return self._event.is_set()


class JobContext:
    """What a handler gets. `batch_size` and `device` are hints the runner lowers after an
    out-of-memory error; a handler that resolves "auto" should set `device` to what it used.
    `shared` is a dict kept for the runner's lifetime per job kind (loaded models, caches).
    `library` is whatever the runner's owner handed it (the Library for the app's own
    handlers; None in bare runners), so handlers reach the database through its verbs."""

    def __init__(
        self,
        runner: "Runner",
        job: JobInfo,
        token: _CancelToken,
        batch_size: int,
        device: str,
        shared: dict[str, Any],
        retry: int,
    ) -> None:
        self._runner = runner
        self._token = token
        self.job = job
        self.batch_size = batch_size
        self.device = device
        self.shared = shared
        self.retry = retry  # 0, then 1, 2 ... after out-of-memory errors in this attempt
        self.staged: tuple[Path, str] | None = None

    @property
    def library(self) -> Any:
        return self._runner.library

    @property
    def id(self) -> int:
        return self.job.id

    @property
    def kind(self) -> str:
        return self.job.kind

    @property
    def payload(self) -> Mapping[str, Any]:
        return self.job.payload

    @property
    def photo_id(self) -> int | None:
        return self.job.photo_id

    @property
    def attempt(self) -> int:
        """1 the first time the job runs; more after a restart or `resume`."""
        return self.job.attempts

    def progress(
        self,
        faces_done: int | None = None,
        faces_total: int | None = None,
        step: int | None = None,
        steps: int | None = None,
        message: str | None = None,
        stage: str | None = None,
    ) -> None:
        fields = {
            k: v
            for k, v in (
                ("faces_done", faces_done), ("faces_total", faces_total), ("step", step),
                ("steps", steps), ("message", message),
            )
            if v is not None
        }
        self._runner._progress(self.job, fields, stage)

    def preview(self, path: "str | os.PathLike[str]") -> None:
        """Tell listeners a preview image of the job's result is at `path` (not kept on the job)."""
        self._runner._emit(self.job, JobState.RUNNING, preview=str(path))

    def is_cancelled(self) -> bool:
        return self._token.is_set()

    @property
    def cancel_token(self) -> _CancelToken:
        """The job's token, for code that takes one (cancelled, raise_if_cancelled)."""
        return self._token

    def check_cancelled(self) -> None:
        if self._token.is_set():
            raise JobCancelled("cancelled")

    def note(self, text: str) -> None:
        """Something the user should know although the job goes on; kept on the job."""
        self._runner._note(self.job, text)

    def stage_output(self, directory: str | os.PathLike[str], data: bytes) -> str:
        """Call right before writing `data` as a new file in `directory`; returns its sha256.

        If the process dies after the file is written but before the job is recorded done,
        the next attempt removes that file (same folder, same bytes, recorded by no version),
        so a photo never gets two outputs from one job. Leftover temporary files of the
        output writer in that folder are removed too.
        """
        sha = hashlib.sha256(data).hexdigest()
        directory = Path(directory).absolute()
        self._runner.queue.stage(self.job.id, directory, sha, len(data))
        self.staged = (directory, sha)
        return sha


Handler = Callable[[JobContext], "JobResult | None"]


class HandlerRegistry:
    """Handlers by job kind. Lazy entries ("module:function") are imported on first use, so
    registering the photo pipeline costs nothing until a job of that kind runs."""

    def __init__(self, handlers: Mapping[str, Handler | str] | None = None) -> None:
        self._handlers: dict[str, Handler | str] = {}
        for kind, h in (handlers or {}).items():
            self.register(kind, h)

    def register(self, kind: str, handler: Handler | str) -> None:
        if not kind or len(kind) > 32:
            raise ValueError("a job kind is 1 to 32 characters")
        if not (callable(handler) or (isinstance(handler, str) and ":" in handler)):
            raise TypeError(f"handler for {kind!r} must be a callable or 'module:function'")
        self._handlers[kind] = handler

    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    def __contains__(self, kind: object) -> bool:
        return kind in self._handlers

    def get(self, kind: str) -> Handler:
        h = self._handlers.get(kind)
        if h is None:
            raise KeyError(f"no handler for job kind {kind!r}")
        if isinstance(h, str):
            module, _, name = h.partition(":")
            h = getattr(importlib.import_module(module), name)
            self._handlers[kind] = h
        return h


# Job kinds the app itself knows ("module:function"), imported when a job of the kind runs.
BUILTIN_HANDLERS: dict[str, str] = {
    "restore_photo": "refldm_desktop.core.restore_job:restore_photo_job",
}


def default_handlers() -> HandlerRegistry:
    return HandlerRegistry(BUILTIN_HANDLERS)


@dataclass(frozen=True)
class RunSummary:
    done: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()
    cancelled: tuple[int, ...] = ()
    requeued: tuple[int, ...] = ()  # stopped because the runner was stopped
    recovered: tuple[int, ...] = ()  # left running by a dead process, queued again at start


@dataclass
class _Tally:
    done: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    recovered: tuple[int, ...] = ()

    def summary(self) -> RunSummary:
        return RunSummary(
            tuple(self.done), tuple(self.failed), tuple(self.cancelled), tuple(self.requeued),
            self.recovered,
        )


class Runner:
    def __init__(
        self,
        queue: JobQueue,
        handlers: HandlerRegistry,
        lock: RunnerLock,
        *,
        on_event: EventCallback | None = None,
        default_batch_size: int = DEFAULT_BATCH_SIZE,
        poll_interval: float = 1.0,
        cancel_check_interval: float = 0.5,
        library: Any = None,
        only_released: bool = False,
    ) -> None:
        self.queue = queue
        self.library = library
        self.handlers = handlers
        self.lock = lock
        self.on_event = on_event
        self.default_batch_size = max(1, int(default_batch_size))
        self.poll_interval = poll_interval
        self.cancel_check_interval = cancel_check_interval
        self._shared: dict[str, dict[str, Any]] = {}
        # Batch sizes that ran out of memory are not tried again in this run.
        self._batch_limit: dict[tuple[str, str], int] = {}
        self._token: _CancelToken | None = None
        self._current: JobInfo | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        # With only_released, the background loop runs only the jobs handed to it by
        # release(): jobs an earlier session left wait until the user asks for them
        # (release_all), instead of going before what the user asks for now.
        self._released: set[int] | None = set() if only_released else None
        # Of those, the ones that may still run: every turn of the loop sends them to the
        # database, so jobs that ended done or cancelled leave it (a long session's thousands
        # of ids would otherwise go into each query, past SQLite's limit on its parameters).
        self._runnable: set[int] | None = set() if only_released else None
        self._released_lock = threading.Lock()

    # -- control -------------------------------------------------------------------------

    @property
    def current_job_id(self) -> int | None:
        job = self._current
        return None if job is None else job.id

    def cancel(self, job_id: int) -> None:
        """Cancel a job: a queued one never runs, the running one stops at its next check."""
        r = self.queue.cancel([job_id])
        token, job = self._token, self._current
        if token is not None and job is not None and job.id == job_id:
            token.request("cancel")
        if job_id in r.cancelled:
            # It was only queued: no turn of the runner will tell the listeners, so say it here.
            self._emit(self.queue.job(job_id), JobState.CANCELLED, message="cancelled")

    def release(self, job_ids: Sequence[int]) -> None:
        """These jobs may run (with only_released); wakes the loop."""
        with self._released_lock:
            if self._released is not None and self._runnable is not None:
                self._released.update(job_ids)
                self._runnable.update(job_ids)
        self.wake()

    def release_all(self) -> None:
        """Every queued job may run, now and from now on; wakes the loop."""
        with self._released_lock:
            self._released = self._runnable = None
        self.wake()

    @property
    def holding(self) -> bool:
        """Whether jobs not released are held back."""
        return self._released is not None

    def held(self, job_id: int) -> bool:
        """Whether this job waits for release() (or release_all) before it may run."""
        with self._released_lock:
            return self._released is not None and job_id not in self._released

    def _allowed(self) -> frozenset[int] | None:
        with self._released_lock:
            return None if self._runnable is None else frozenset(self._runnable)

    def _ended(self, job_id: int) -> None:
        """A released job that ended done or cancelled runs again only if released anew."""
        if self._runnable is not None and self.queue.job(job_id).state in (JobState.DONE, JobState.CANCELLED):
            with self._released_lock:
                if self._runnable is not None:
                    self._runnable.discard(job_id)

    def wake(self) -> None:
        """New jobs were queued: look now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Run jobs in a background thread until `stop()`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="refldm-job-runner", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop the thread; a running job is put back in the queue (it resumes next time)."""
        self._stopping.set()
        token = self._token
        if token is not None:
            token.request("stop")
        self._wake.set()
        if wait and self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_until_empty(self, *, batch_id: str | None = None) -> RunSummary:
        """Work through the queue in the calling thread until no job is left (only those
        of `batch_id` when given). Raises RunnerBusy when another runner holds the lock.
        On Ctrl-C the running job goes back to the queue and KeyboardInterrupt propagates."""
        if not self.lock.acquire():
            raise RunnerBusy(f"{self.lock.holder()} is already running jobs of this library")
        tally = _Tally()
        try:
            tally.recovered = self.queue.requeue_running(INTERRUPTED_NOTE)
            self._stopping.clear()
            while not self._stopping.is_set():
                job = self.queue.claim_next(self.handlers.kinds(), batch_id=batch_id)
                if job is None:
                    break
                self._process(job, tally)
        finally:
            self.lock.release()
        return tally.summary()

    def _loop(self) -> None:
        tally = _Tally()
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # before looking: a release() from now on wakes the wait
                allowed = self._allowed()
                if allowed is not None and not self.queue.has_queued(self.handlers.kinds(), only=allowed):
                    # Nothing this runner may run (an earlier session's jobs wait for Resume):
                    # leave the lock free so that `refldm-desktop jobs run` can run them.
                    self.lock.release()
                    self._wake.wait(self.poll_interval)
                    continue
                if not self.lock.held:
                    if not self.lock.acquire():
                        # Another process runs the queue; take over when it ends.
                        self._wake.wait(self.poll_interval)
                        continue
                    self.queue.requeue_running(INTERRUPTED_NOTE)
                job = self.queue.claim_next(self.handlers.kinds(), only=allowed)
                if job is None:
                    self._wake.wait(self.poll_interval)
                    continue
                self._process(job, tally)
                self._ended(job.id)
        except Exception:  # noqa: BLE001 - a broken database must not kill the app silently
            log.exception("the job runner stopped after an unexpected error")
        finally:
            self.lock.release()

    # -- one job -------------------------------------------------------------------------

    def _process(self, job: JobInfo, tally: _Tally) -> None:
        token = _CancelToken(self.queue, job.id, self.cancel_check_interval)
        self._token, self._current = token, job
        try:
            self._run_job(job, token, tally)
        finally:
            self._token, self._current = None, None

    def _run_job(self, job: JobInfo, token: _CancelToken, tally: _Tally) -> None:
        self._emit(job, JobState.RUNNING, message=f"attempt {job.attempts}" if job.attempts > 1 else None)
        if job.staged:
            self._clean_staged(job, job.staged)
        try:
            handler = self.handlers.get(job.kind)
        except Exception as exc:  # noqa: BLE001 - a broken plugin fails its jobs, not the runner
            log.info("job %s: no usable handler", job.id, exc_info=exc)
            self.queue.fail(job.id, f"cannot load the handler for {job.kind!r} jobs: {describe_error(exc)}")
            tally.failed.append(job.id)
            self._emit(job, JobState.FAILED, error=self.queue.job(job.id).error)
            return
        device = str(job.payload.get("device") or "auto")
        first_batch = _positive_int(job.payload.get("batch_size"), self.default_batch_size)
        batch = min(first_batch, self._batch_limit.get((job.kind, device), first_batch))
        shared = self._shared.setdefault(job.kind, {})
        retry = 0
        while True:
            if token.is_set():
                return self._stopped(job, token, tally, None)
            ctx = JobContext(self, job, token, batch, device, shared, retry)
            out_of_memory_on: str | None = None
            try:
                result = handler(ctx)
            except BaseException as exc:  # noqa: BLE001 - every outcome is recorded below
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    self._discard_staged(job, ctx)
                    self.queue.requeue(job.id, "interrupted (Ctrl-C); queued again")
                    self._emit(job, JobState.QUEUED, message="interrupted; queued again")
                    raise
                if not isinstance(exc, Exception):
                    raise
                if isinstance(exc, JobCancelled) or token.is_set():
                    return self._stopped(job, token, tally, ctx)
                if not is_out_of_memory(exc):
                    # Kept for the app's log file; the user hears of it through the job's error.
                    log.info("job %s (%s) failed", job.id, job.kind, exc_info=exc)
                    return self._failed(job, ctx, describe_error(exc), tally)
                # The handler's frames (and the tensors they hold) die with the traceback.
                traceback.clear_frames(exc.__traceback__)
                out_of_memory_on = ctx.device
            if out_of_memory_on is None:
                break
            # Outside the except block, so the exception no longer pins the memory.
            _free_accelerator_memory()
            self._discard_staged(job, ctx)
            where = out_of_memory_on
            if batch > 1:
                smaller = batch // 2
                note = f"out of memory on {where} with batch size {batch}; retrying with batch size {smaller}"
                self._batch_limit[(job.kind, device)] = smaller
                batch = smaller
            elif not _is_cpu(where):
                note = f"out of memory on {where} even with batch size 1; running on the CPU instead (slower)"
                device, batch = "cpu", first_batch
            else:
                return self._failed(job, ctx, f"out of memory on {where} even with batch size 1", tally)
            log.info("job %s: %s", job.id, note)
            self.queue.add_note(job.id, note)
            self._emit(job, JobState.RUNNING, note=note)
            retry += 1
        if result is not None and not isinstance(result, JobResult):
            return self._failed(
                job, ctx, f"handler for {job.kind!r} returned {type(result).__name__}, not a JobResult", tally
            )
        try:
            version_id = self.queue.complete(job.id, result)
        except Exception as exc:  # noqa: BLE001 - e.g. the output is already recorded elsewhere
            log.info("job %s: recording the result failed", job.id, exc_info=exc)
            return self._failed(job, ctx, f"could not record the result: {describe_error(exc)}", tally)
        tally.done.append(job.id)
        self._emit(job, JobState.DONE, message=result.message if result else None, version_id=version_id)

    def _stopped(self, job: JobInfo, token: _CancelToken, tally: _Tally, ctx: JobContext | None) -> None:
        if ctx is not None:
            self._discard_staged(job, ctx)
        if token.reason == "stop":
            self.queue.requeue(job.id)
            tally.requeued.append(job.id)
            self._emit(job, JobState.QUEUED, message="stopped; queued again")
        else:
            self.queue.mark_cancelled(job.id)
            tally.cancelled.append(job.id)
            self._emit(job, JobState.CANCELLED, message="cancelled")

    def _failed(self, job: JobInfo, ctx: JobContext, error: str, tally: _Tally) -> None:
        self._discard_staged(job, ctx)
        self.queue.fail(job.id, error)
        tally.failed.append(job.id)
        self._emit(job, JobState.FAILED, error=error)

    # -- outputs the job did not get to record -------------------------------------------

    def _discard_staged(self, job: JobInfo, ctx: JobContext) -> None:
        if ctx.staged is not None:
            directory, sha = ctx.staged
            self._clean_staged(job, self.queue.job(job.id).staged or {"dir": str(directory), "sha256": sha})
            ctx.staged = None

    def _clean_staged(self, job: JobInfo, staged: Mapping[str, Any]) -> None:
        """Remove what an unfinished attempt left in its output folder: the output writer's
        temporary files, and a finished file with the staged bytes that no version records.
        Only files that match exactly are touched, never anything else in the folder."""
        directory = Path(staged["dir"])
        sha, size = staged.get("sha256"), staged.get("size")
        removed: list[str] = []
        recorded = self.queue.output_paths()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            entries = []
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
                if fnmatch.fnmatchcase(entry.name, OUTPUT_TEMP_PATTERN):
                    if size is None or st.st_size <= size:
                        os.unlink(entry.path)
                        removed.append(entry.name)
                    continue
                if size is None or st.st_size != size or str(Path(entry.path).absolute()) in recorded:
                    continue
                with open(entry.path, "rb") as f:
                    if hashlib.file_digest(f, "sha256").hexdigest() != sha:
                        continue
                os.unlink(entry.path)
                removed.append(entry.name)
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("could not remove the unfinished output %s: %s", entry.path, exc)
        self.queue.clear_staged(job.id)
        if removed:
            note = f"removed unfinished output of an earlier attempt in {directory}: {', '.join(sorted(removed))}"
            self.queue.add_note(job.id, note)
            self._emit(job, JobState.RUNNING, note=note)

    # -- reporting -----------------------------------------------------------------------

    def _progress(self, job: JobInfo, fields: dict[str, Any], stage: str | None = None) -> None:
        if fields:
            # The phase goes to the database too: an app watching this job from another
            # process reads it there.
            self.queue.progress(job.id, **({**fields, "stage": stage} if stage else fields))
        self._emit(job, JobState.RUNNING, stage=stage, **fields)

    def _note(self, job: JobInfo, text: str) -> None:
        self.queue.add_note(job.id, text)
        self._emit(job, JobState.RUNNING, note=text)

    def _emit(self, job: JobInfo, state: JobState, **fields: Any) -> None:
        if self.on_event is None:
            return
        event = JobEvent(job.id, job.kind, state, job.batch_id, job.photo_id, **fields)
        try:
            self.on_event(event)
        except Exception:  # noqa: BLE001 - a broken listener must not stop the GPU worker
            log.exception("job event listener failed")


__all__ = [
    "BUILTIN_HANDLERS",
    "DEFAULT_BATCH_SIZE",
    "FULL_STAGE",
    "Handler",
    "HandlerRegistry",
    "JobCancelled",
    "JobContext",
    "JobEvent",
    "PREVIEW_STAGE",
    "Runner",
    "RunnerBusy",
    "RunSummary",
    "default_handlers",
    "describe_error",
    "is_out_of_memory",
]
