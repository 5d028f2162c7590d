"""Restoring from the window: queue restore jobs for photos and follow them to the end.

The restorer and its settings come from the user's saved defaults (the core's settings
when it has them); `ctx.restore_defaults` can replace them (tests use `passthrough`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from refldm_desktop.words import counted

if TYPE_CHECKING:
    from refldm_desktop.core.restoring import RestoreSettings
    from refldm_desktop.ui.context import AppContext

END_STATES = ("done", "failed", "cancelled")
NOTHING = "nothing"  # a job that ended done without a result


@dataclass(frozen=True)
class JobEnd:
    job_id: int
    photo_id: int | None
    state: str  # done / failed / cancelled
    version_id: int | None
    error: str | None
    message: str | None = None  # what the job said at its end ("no face could be restored")


Finished = Callable[[JobEnd], None]
Preview = Callable[[int, int | None, str], None]  # job id, photo id, the preview's path


def saved_defaults(ctx: "AppContext") -> "RestoreSettings":
    """Every saved setting that says how to restore (restorer, model, steps, guidance,
    device, precision, references, upscale, reference-free, identity policy, output folder),
    as `restore` on the command line reads them."""
    from refldm_desktop.core.restoring import RestoreSettings

    override = getattr(ctx, "restore_defaults", None)
    if override is not None:
        return override
    try:
        return RestoreSettings.from_settings(ctx.library.settings)
    except Exception as exc:  # noqa: BLE001 - a damaged settings file must not stop a restore
        from refldm_desktop.ui.tasks import describe

        ctx.status.emit(f"Restoring with the built-in defaults: {describe(exc)}")
        return RestoreSettings()


_watching: set["RestoreWatch"] = set()


class RestoreWatch:
    """Follows the jobs to their end: the status bar says how far they are and how they
    ended (never "Restoring…" after the result is shown); `on_preview` hears of a quick
    preview, `on_finished(JobEnd)` of each job's end (once each)."""

    def __init__(self, ctx: "AppContext", job_ids: Sequence[int], on_finished: Finished | None = None,
                 on_preview: Preview | None = None) -> None:
        self.ctx = ctx
        self.waiting = set(job_ids)
        self.total = len(self.waiting)
        self.ended: dict[str, int] = {}  # by end state, and NOTHING
        self.why_nothing: str | None = None  # the last such job's reason
        self.on_finished = on_finished
        self.on_preview = on_preview
        # Signals hold only weak references to plain objects' methods: keep it alive.
        _watching.add(self)
        ctx.jobs.event.connect(self._event)
        # A job may have ended before we listened: ask once.
        lib = ctx.library
        ctx.tasks.run(lambda: [lib.jobs.get(j) for j in job_ids], self._check, label="Following the restore")

    def _check(self, jobs) -> None:
        for j in jobs:
            if j.state in END_STATES:
                self._end(JobEnd(j.id, j.photo_id, j.state, j.version_id, j.error, j.message))

    def _event(self, event) -> None:
        if getattr(event, "preview", None) and event.job_id in self.waiting and self.on_preview is not None:
            self.on_preview(event.job_id, event.photo_id, event.preview)
        if event.state in END_STATES:
            self._end(JobEnd(event.job_id, event.photo_id, event.state, event.version_id, event.error, event.message))

    def _end(self, end: JobEnd) -> None:
        if end.job_id not in self.waiting:
            return
        self.waiting.discard(end.job_id)
        if not self.waiting:
            self.ctx.jobs.event.disconnect(self._event)
            _watching.discard(self)
        self.ctx.notify("versions", "jobs", "photos")
        # A job can end "done" with no new version: nothing in its photo could be restored.
        state = NOTHING if end.state == "done" and end.version_id is None else end.state
        self.ended[state] = self.ended.get(state, 0) + 1
        if state == NOTHING:
            self.why_nothing = end.message
        self.ctx.status.emit(self.summary())
        if self.on_finished is not None:
            self.on_finished(end)

    def summary(self) -> str:
        done = self.ended.get("done", 0)
        nothing = self.ended.get(NOTHING, 0)
        if nothing and not self.waiting and set(self.ended) == {NOTHING}:
            # One line the status bar can show whole; the photo's menu says what to do.
            return f"Nothing was restored: {nothing_reason(self.why_nothing)[0]}" + (
                f" ({nothing} photos; see Jobs)" if nothing > 1 else "")
        parts = [f"Restored {done} photo{'s' if done != 1 else ''}"] if done or not self.ended else []
        if nothing:
            parts.append(f"nothing restored in {counted(nothing, 'photo')} (see Jobs)")
        if self.ended.get("failed"):
            parts.append(f"{self.ended['failed']} failed (see Jobs)")
        if self.ended.get("cancelled"):
            parts.append(f"{self.ended['cancelled']} cancelled")
        text = ", ".join(parts) or "Restoring ended"
        if self.waiting:
            return f"Restoring {self.total} photos: {self.total - len(self.waiting)} ended ({text.lower()})…"
        return text[0].upper() + text[1:]


def nothing_restored(why: str | None) -> str:
    """The status line for a restore that ended without a result, with the job's reason
    (which says what to do) in the app's words."""
    reason, advice = nothing_reason(why)
    text = f"Nothing was restored: {reason}"
    return f"{text} ({advice})" if advice else text


def nothing_reason(why: str | None) -> tuple[str, str]:
    """A nothing-restored job's message as (reason, what to do), in the app's words."""
    from refldm_desktop.ui.advice import for_app

    text = (for_app(why) or "no face could be restored").removeprefix("no face could be restored: ")
    reason, _, advice = text.partition(" (")
    return reason, advice.removesuffix(")")


def restore_photos(
    ctx: "AppContext",
    photo_ids: Sequence[int],
    settings: "RestoreSettings | None" = None,
    *,
    per_photo: Mapping[int, Mapping[str, Any]] | None = None,
    on_finished: Finished | None = None,
    on_preview: Preview | None = None,
) -> None:
    """Check the restorer can run, queue one job per photo, start the runner."""
    settings = settings or saved_defaults(ctx)
    lib = ctx.library
    ids = list(photo_ids)

    def queue():
        lib.restoring.check_restorer(settings)
        result = lib.restoring.enqueue(ids, settings, per_photo=per_photo)
        return result

    def queued(result) -> None:
        ctx.notify("jobs")
        n = len(result.queued)
        if n:
            ctx.status.emit(f"Restoring {n} photo{'s' if n != 1 else ''}…")
            RestoreWatch(ctx, list(result.queued), on_finished, on_preview)
            ctx.jobs.queued(result.queued)
        else:
            ctx.status.emit("Already queued: see Jobs")

    ctx.tasks.run(queue, queued, label="Queueing the restore")
