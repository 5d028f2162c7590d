"""Adding photos to the library from the window (drops, `gui PATH`, the first-run
assistant): indexing runs as a long task with progress in the status bar."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.tasks import Task


def _summary(results: list) -> str:
    new = sum(getattr(r, "new", 0) for r in results)
    faces = sum(getattr(r, "faces_found", 0) for r in results)
    errors = sum(getattr(r, "errors", 0) for r in results)
    known = sum(getattr(r, "unchanged", 0) + getattr(r, "reappeared", 0) for r in results)
    if new:
        text = f"Added {new} photo{'s' if new != 1 else ''}, {faces} face{'s' if faces != 1 else ''} found"
    elif known:
        text = f"Up to date: {known} photo{'s' if known != 1 else ''} already in the library"
    else:
        text = "No photos found there"
    return text + (f"; {errors} could not be read" if errors else "")


def add_paths(
    ctx: "AppContext", paths: Sequence[Path], on_done: Callable[[], None] | None = None
) -> "Task | None":
    """Index folders (whole) and photos (alone) in the background; announce the change."""
    paths = [Path(p) for p in paths]
    folders = [p for p in paths if p.is_dir()]
    photos = [p for p in paths if p.is_file()]
    if not folders and not photos:
        ctx.status.emit("Nothing to add: drop folders or photos")
        return None
    lib = ctx.library

    def work(task: "Task") -> list:
        results = []
        if folders:
            results.append(lib.index(folders, progress=task.progress, cancel=task.cancelled))
        if photos and not task.cancelled():
            results.append(lib.index_photos(photos, progress=task.progress, cancel=task.cancelled))
        return results

    def done(results: list) -> None:
        ctx.notify("photos", "faces", "people")
        cancelled = any(getattr(r, "cancelled", False) for r in results)
        ctx.status.emit("Adding photos was cancelled; what was done is kept" if cancelled else _summary(results))
        if on_done is not None:
            on_done()

    return ctx.tasks.run_long("Adding photos", work, done)
