"""Adding photos to the library from the window (drops, `gui PATH`, the first-run
assistant): indexing runs as a long task with progress in the status bar."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.tasks import Task


def _summary(results: list) -> str:
    def total(name: str) -> int:
        return sum(getattr(r, name, 0) for r in results)

    def n(count: int, word: str) -> str:
        return f"{count} {word}{'s' if count != 1 else ''}"

    new, faces, errors = total("new"), total("faces_found"), total("errors")
    # What a rescan finds besides new photos: each said, not hidden under "up to date".
    others = [f"{n(c, 'photo')} {what}" for c, what in (
        (total("changed"), "changed and read again"), (total("moved"), "moved"), (total("missing"), "missing"))
        if c]
    # A changed photo's faces are found anew: one still in its place keeps its name and pin.
    if total("faces_kept"):
        others.append(f"{n(total('faces_kept'), 'named face')} of changed photos kept in place")
    if total("faces_lost"):
        others.append(f"{n(total('faces_lost'), 'named face')} of changed photos not found in place: name them again")
    known = total("unchanged") + total("reappeared")
    if new:
        text = f"Added {n(new, 'photo')}, {n(faces, 'face')} found"
    elif others:
        text = "Rescanned"
    elif known:
        text = f"Up to date: {n(known, 'photo')} already in the library"
    else:
        text = "No photos found there"
    return "; ".join([text, *others] + ([f"{errors} could not be read"] if errors else []))


def _announce(ctx: "AppContext", label: str, results: list) -> None:
    """Tell the views and the user what an indexing task did."""
    ctx.notify("photos", "faces", "people")
    cancelled = any(getattr(r, "cancelled", False) for r in results)
    ctx.status.emit(f"{label} was cancelled; what was done is kept" if cancelled else _summary(results))


READABLE = "JPEG, PNG, WebP, TIFF, BMP, HEIC, AVIF"  # library.imageio's IMAGE_EXTENSIONS, in words


def not_read(problems: Sequence[tuple[Path, str]]) -> str:
    """What to say of files the user named that are not photos the app reads: one plain
    sentence instead of the index's count."""
    (path, reason), more = problems[0], len(problems) - 1
    name = path.name if not more else f"{path.name} and {more} more"
    if reason.startswith(("not an image", "unsupported image format", "empty file")):
        content = "not an image (content is "
        what = f"it is {reason[len(content):-1]}" if reason.startswith(content) else reason
        verb = "is not a photo" if not more else "are not photos"
        return f"{name} {verb} this app can read ({READABLE}): {what}"
    return f"{name} could not be read: {reason}"


def add_paths(
    ctx: "AppContext", paths: Sequence[Path],
    on_done: Callable[[list[Path], set[Path]], None] | None = None,
    label: str = "Adding photos",
    on_missing: Callable[[list[Path], bool], None] | None = None,
) -> "Task":
    """Index folders (whole) and photos (alone) in the background; announce the change.
    Whether each path is there is asked in the background too: on a stale network mount
    that can take minutes, and the window must not freeze. `on_missing(missing, any_left)`
    hears the paths that are not there (first); `on_done(added, folders)` the paths that are
    there and could be read, and which of them are folders (as given, in order), when
    anything was added."""
    paths = [Path(p) for p in paths]
    lib = ctx.library

    def work(task: "Task") -> tuple[list, list[tuple[Path, str]], list[Path], list[Path], list[Path]]:
        missing = [p for p in paths if not p.exists()]
        gone = set(missing)
        folders = [p for p in paths if p not in gone and p.is_dir()]
        photos = [p for p in paths if p not in gone and p.is_file()]
        results, unread = [], []
        if folders:
            results.append(lib.index(folders, progress=task.progress, cancel=task.cancelled))
        if photos and not task.cancelled():
            result = lib.index_photos(photos, progress=task.progress, cancel=task.cancelled)
            results.append(result)
            why = {p.path: p.reason for p in result.problems}
            unread = [(p, why[r]) for p in photos if (r := p.resolve()) in why]
        return results, unread, missing, folders, photos

    def done(outcome: tuple[list, list[tuple[Path, str]], list[Path], list[Path], list[Path]]) -> None:
        results, unread, missing, folders, photos = outcome
        if missing and on_missing is not None:
            on_missing(missing, bool(folders or photos))
        if not folders and not photos:
            if not missing or on_missing is None:
                ctx.status.emit("Nothing to add: drop folders or photos")
            return
        if unread and len(results) == 1 and not _summary(results).startswith(("Added", "Up to date", "Rescanned")):
            # Only files that are not photos: say that, not "No photos found there; 1 could not be read".
            ctx.notify("photos", "faces", "people")
            ctx.status.emit(not_read(unread))
        else:
            _announce(ctx, label, results)
        if on_done is not None:
            there = set(folders).union(photos).difference(p for p, _ in unread)
            on_done([p for p in paths if p in there], set(folders))

    return ctx.tasks.run_long(label, work, done)


def rescan_folder(ctx: "AppContext", folder: Path, label: str) -> "Task":
    """Index a library folder again. Whether it is there is asked in the background: on a
    dead network drive that question alone can hang, and the window must not."""
    folder = Path(folder)
    lib = ctx.library

    def work(task: "Task"):
        if not folder.is_dir():
            return None  # not indexed: every photo in it would be called missing
        return [lib.index([folder], progress=task.progress, cancel=task.cancelled)]

    def done(results: list | None) -> None:
        if results is None:
            ctx.status.emit(f"{folder} is not there (disconnected drive?); nothing was changed")
            return
        _announce(ctx, label, results)

    return ctx.tasks.run_long(label, work, done)
